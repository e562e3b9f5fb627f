// GET /metrics: off by default (404), a bearer token compared in constant time when on, and the
// counters moving by exactly what a sign-in does: codes sent and verified, a wrong code failed, the
// sign-in by method and outcome, the delivery; the outbox gauges; route labels that a client making
// up paths cannot multiply.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { parseExposition, type Exposition } from '../helpers/prometheus.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/net.js';
import { loadConfig } from '../../src/config/load.js';
import { enqueueMessage } from '../../src/storage/outbox.js';
import { recordAudit } from '../../src/storage/audit.js';

const OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';
const APP = { client_id: 'app', client_secret: 'app-secret-app-secret-app-secret' };
const TOKEN = 'metrics-token-metrics-token-metrics-token';
const CONFIG = {
  metrics: { enabled: true, bearerToken: TOKEN },
  clients: [{ ...APP, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code', OTP], first_party: true }],
};
const HTTP = 'sesame_http_request_duration_seconds_count';

async function scrapeOf(t: TestSesame): Promise<Exposition> {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect([res.status, res.headers.get('content-type'), res.headers.get('cache-control')]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8', 'no-store']);
  return parseExposition(await res.text());
}

/** How much each named sample moved between two scrapes. */
function moved(before: Exposition, after: Exposition, picks: Array<[string, Record<string, string>]>) {
  return picks.map(([name, labels]) => after.sum(name, labels) - before.sum(name, labels));
}

describe('metrics switched off', () => {
  it('is refused on without a token, and answers 404 by default', async () => {
    expect(() => loadConfig({}, { metrics: { enabled: true } })).toThrow(/metrics\.bearerToken: metrics\.enabled needs metrics\.bearerToken/);
    const t = await startTestSesame('sqlite');
    try {
      const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(404);
    } finally {
      await t.stop();
    }
  });
});

describe.each(ENGINES)('GET /metrics on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, CONFIG);
  });
  afterAll(() => t?.stop());

  const scrape = () => scrapeOf(t);

  it('answers 401 with a challenge without the token, with another scheme or with a wrong one', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Bearer ${TOKEN} ${TOKEN}` },
    ];
    const answers = [];
    for (const headers of attempts) {
      const res = await fetch(`${t.url}/metrics`, { headers });
      answers.push([res.status, res.headers.get('www-authenticate'), await res.json()]);
    }
    const missing = [401, 'Bearer realm="metrics"', { error: 'invalid_token', error_description: 'A bearer token for the metrics is required.' }];
    const wrong = [401, 'Bearer realm="metrics", error="invalid_token"', { error: 'invalid_token', error_description: 'The bearer token is not the metrics token.' }];
    expect(answers).toEqual([missing, missing, wrong, wrong, missing]);
  });

  it('moves the code, sign-in and delivery counters by exactly one API sign-in, and the failed ones by a wrong code', async () => {
    const email = `metrics-${engine}@example.com`;
    const before = await scrape();
    const start = await fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...APP, connection: 'email', email, send: 'code' }),
    });
    expect(start.status).toBe(200);
    const otp = codeFrom(await t.mail.next(email));
    const grant = (code: string) =>
      fetch(`${t.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: OTP, ...APP, username: email, otp: code, realm: 'email', scope: 'openid email' }),
      });
    const wrong = await grant(otp === '000000' ? '111111' : '000000');
    expect([wrong.status, await wrong.json()]).toEqual([403, { error: 'invalid_grant', error_description: 'Wrong email or verification code.' }]);
    const right = await grant(otp);
    expect(right.status).toBe(200);
    // The worker records the delivery just after the mail left.
    const after = await waitFor(async () => {
      const now = await scrape();
      return now.sum('sesame_deliveries_total', { channel: 'email', outcome: 'sent' }) > before.sum('sesame_deliveries_total', { channel: 'email', outcome: 'sent' }) && now;
    });
    expect(
      moved(before, after, [
        ['sesame_codes_total', { channel: 'email', outcome: 'sent' }],
        ['sesame_codes_total', { channel: 'email', outcome: 'failed' }],
        ['sesame_codes_total', { channel: 'email', outcome: 'verified' }],
        ['sesame_codes_total', { channel: 'sms' }],
        ['sesame_sign_ins_total', { method: 'email_code', outcome: 'success' }],
        ['sesame_sign_ins_total', { method: 'email_code', outcome: 'failure' }],
        ['sesame_sign_ins_total', { method: 'link' }],
        ['sesame_deliveries_total', { channel: 'email', outcome: 'sent' }],
        ['sesame_deliveries_total', { outcome: 'retry' }],
        [HTTP, { method: 'POST', route: '/passwordless/start', status: '200' }],
        [HTTP, { method: 'POST', route: '/oauth/token', status: '200' }],
        [HTTP, { method: 'POST', route: '/oauth/token', status: '403' }],
      ]),
    ).toEqual([1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1]);
    expect(after.types.get('sesame_sign_ins_total')).toBe('counter');
    expect(after.types.get('sesame_http_request_duration_seconds')).toBe('histogram');
  });

  it('reports the outbox depth and the age of its oldest message, and the signing keys in use', async () => {
    const { db } = t.sesame.services;
    await t.sesame.worker.stop(0);
    try {
      for (const i of [1, 2, 3]) await enqueueMessage(db, { channel: 'email', recipient: `queued-${i}@example.com`, subject: 's', text: 't' });
      const queued = await scrape();
      expect(queued.value('sesame_outbox_pending_messages')).toBe(3);
      expect(queued.value('sesame_outbox_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(0);
      expect(queued.value('sesame_outbox_oldest_pending_age_seconds')).toBeLessThan(30);
      expect(
        queued
          .series('sesame_signing_key_age_seconds')
          .map((s) => s.labels.alg)
          .sort(),
      ).toEqual(['ES256', 'RS256']);
      expect(queued.value('sesame_signing_key_age_seconds', { alg: 'RS256' })).toBeLessThan(600);
      // The pool of PostgreSQL; SQLite has none.
      expect(queued.value('sesame_db_pool_connections', { state: 'max' })).toBe(engine === 'postgresql' ? 10 : undefined);
    } finally {
      t.sesame.worker.start();
    }
    const drained = await waitFor(async () => {
      const now = await scrape();
      return now.value('sesame_outbox_pending_messages') === 0 && now;
    });
    expect(drained.value('sesame_outbox_oldest_pending_age_seconds')).toBe(0);
  });

  it('counts each sign-in method of the audit log, and nothing for events that are not sign-ins', async () => {
    const { db } = t.sesame.services;
    const before = await scrape();
    const events = [
      { type: 'login', identifier: '+14155550100', reason: 'sms_code' },
      { type: 'login', identifier: 'ext@example.com', reason: 'external corp via svc' },
      { type: 'link.used', identifier: '+alias@example.com' },
      { type: 'link.approved', identifier: 'a@example.com' },
      { type: 'link.failed', identifier: 'a@example.com', reason: 'number_wrong' },
      { type: 'passkey.login' },
      { type: 'passkey.failed', reason: 'bad signature' },
      { type: 'external.failed', reason: 'missing_parameters' },
      { type: 'code.failed', identifier: '+14155550100', reason: 'wrong' },
      { type: 'code.send_limited', identifier: '+alias@example.com', reason: 'ip' },
      { type: 'sms.refused', identifier: '+14155550100', reason: 'country FR' },
      { type: 'mfa.verified', reason: 'otp' },
      { type: 'account.sessions_ended', reason: 'not counted' },
    ];
    for (const event of events) await recordAudit(db, { ...event, ip: '203.0.113.9' });
    const after = await scrape();
    expect(
      moved(before, after, [
        ['sesame_sign_ins_total', { method: 'sms_code', outcome: 'success' }],
        ['sesame_sign_ins_total', { method: 'sms_code', outcome: 'failure' }],
        ['sesame_sign_ins_total', { method: 'external', outcome: 'success' }],
        ['sesame_sign_ins_total', { method: 'external', outcome: 'failure' }],
        ['sesame_sign_ins_total', { method: 'link', outcome: 'success' }],
        ['sesame_sign_ins_total', { method: 'link', outcome: 'failure' }],
        ['sesame_sign_ins_total', { method: 'passkey', outcome: 'success' }],
        ['sesame_sign_ins_total', { method: 'passkey', outcome: 'failure' }],
        ['sesame_sign_ins_total', { method: 'email_code' }],
        ['sesame_links_total', { outcome: 'used' }],
        ['sesame_links_total', { outcome: 'approved' }],
        ['sesame_links_total', { outcome: 'failed' }],
        ['sesame_codes_total', { channel: 'sms', outcome: 'verified' }],
        ['sesame_codes_total', { channel: 'sms', outcome: 'failed' }],
        ['sesame_codes_total', { channel: 'sms', outcome: 'refused' }],
        ['sesame_codes_total', { channel: 'email', outcome: 'limited' }],
        ['sesame_second_factors_total', { outcome: 'verified' }],
      ]),
    ).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    // Eight of the thirteen events are sign-in attempts; the rest move no sign-in.
    expect(moved(before, after, [['sesame_sign_ins_total', {}]])).toEqual([8]);
  });

  it("serves every metric the README's Metrics section names (its table, scrape config and alert rules)", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = /\n## Metrics\n([\s\S]*?)\n## /.exec(readme)![1]!;
    const named = [...new Set(section.match(/\bsesame_[a-z_]+/g))].sort();
    expect(named.length).toBeGreaterThanOrEqual(12);
    const served = await scrape();
    expect(named.filter((name) => !served.types.has(name))).toEqual([]);
    expect([...served.types.keys()].filter((name) => name.startsWith('sesame_') && !named.includes(name))).toEqual([]);
  });

  it('labels requests by route pattern: 1000 made-up paths make no new series', async () => {
    const before = await scrape();
    const paths = [
      ...Array.from({ length: 900 }, () => `/no-such-${randomBytes(8).toString('hex')}`),
      ...Array.from({ length: 100 }, () => `/interaction/${randomBytes(8).toString('hex')}`),
    ];
    for (let i = 0; i < paths.length; i += 50) {
      const statuses = await Promise.all(paths.slice(i, i + 50).map(async (path) => (await fetch(`${t.url}${path}`)).status));
      expect(new Set(statuses).size).toBe(1);
    }
    const after = await scrape();
    const series = (e: Exposition) => e.series(HTTP).map((s) => JSON.stringify(s.labels));
    const added = series(after).filter((s) => !series(before).includes(s));
    // At most the two labels these requests need, whatever the paths were.
    expect(added.length).toBeLessThanOrEqual(2);
    expect(after.sum(HTTP, { method: 'GET', route: 'unmatched' }) - before.sum(HTTP, { method: 'GET', route: 'unmatched' })).toBe(900);
    expect(after.sum(HTTP, { method: 'GET', route: '/interaction/:uid' }) - before.sum(HTTP, { method: 'GET', route: '/interaction/:uid' })).toBe(100);
    expect(after.samples.some((s) => Object.values(s.labels).some((v) => v.includes('no-such')))).toBe(false);
  });
});

describe('delivery failures', () => {
  it('counts each failed attempt by channel, retried then given up, while the outbox keeps the message', async () => {
    // A webhook receiver that is not there: every attempt fails at once.
    const url = `http://127.0.0.1:${await freePort()}/hook`;
    const secret = 'webhook-secret-webhook-secret-webhook-secret';
    const t = await startTestSesame('sqlite', {
      ...CONFIG,
      connections: [{ id: 'email', type: 'email', delivery: { type: 'webhook', url, secret } }],
      delivery: { pollInterval: 100, maxAttempts: 2, retryDelay: 0.2 },
    });
    try {
      const before = await scrapeOf(t);
      const start = await fetch(`${t.url}/passwordless/start`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...APP, connection: 'email', email: 'hooked@example.com', send: 'code' }),
      });
      expect(start.status).toBe(200);
      const retried = await waitFor(async () => {
        const now = await scrapeOf(t);
        return (
          now.sum('sesame_deliveries_total', { channel: 'webhook', outcome: 'retry' }) > before.sum('sesame_deliveries_total', { channel: 'webhook', outcome: 'retry' }) && now
        );
      });
      expect(retried.value('sesame_outbox_pending_messages')).toBe(1);
      const givenUp = await waitFor(async () => {
        const now = await scrapeOf(t);
        return (
          now.sum('sesame_deliveries_total', { channel: 'webhook', outcome: 'failed' }) > before.sum('sesame_deliveries_total', { channel: 'webhook', outcome: 'failed' }) && now
        );
      });
      expect(
        moved(before, givenUp, [
          ['sesame_deliveries_total', { channel: 'webhook', outcome: 'retry' }],
          ['sesame_deliveries_total', { channel: 'webhook', outcome: 'failed' }],
          ['sesame_deliveries_total', { channel: 'webhook', outcome: 'sent' }],
          ['sesame_deliveries_total', { channel: 'email' }],
          ['sesame_codes_total', { channel: 'email', outcome: 'sent' }],
        ]),
      ).toEqual([1, 1, 0, 0, 1]);
      expect(givenUp.value('sesame_outbox_pending_messages')).toBe(0);
    } finally {
      await t.stop();
    }
  });
});
