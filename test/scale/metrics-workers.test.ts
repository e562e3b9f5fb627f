// `sesame serve --workers 2` with metrics on: whichever worker a scrape reaches, it answers for the
// whole process group (the primary gathers every listening worker's metrics): requests served by
// both workers add up, a sign-in moves the counters once, and gauges of the shared database are
// not multiplied by the number of workers.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { parseExposition, type Exposition } from '../helpers/prometheus.js';
import { childPids, startServe, waitForLog, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';

const OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';
const APP = { client_id: 'app', client_secret: 'app-secret-app-secret-app-secret' };
const TOKEN = 'metrics-token-metrics-token-metrics-token';
const HEALTH = { method: 'GET', route: '/healthz', status: '200' };
const COUNT = 'sesame_http_request_duration_seconds_count';

/** GET on a fresh connection (no keep-alive), so the cluster hands each request to a worker anew. */
function freshGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { ...headers, connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error('GET timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('metrics of sesame serve --workers 2', { timeout: 90_000 }, () => {
  let database: TestDatabase;
  let sink: MailSink;
  let proc: ServeProcess;
  let startedAt: number;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    sink = await startMailSink();
    startedAt = Date.now();
    proc = await startServe({
      databaseUrl: database.url,
      args: ['--workers', '2'],
      config: {
        smtpUrl: sink.url,
        metrics: { enabled: true, bearerToken: TOKEN },
        clients: [{ ...APP, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code', OTP], first_party: true }],
      },
    });
    await waitFor(() => proc.logs().filter((l) => l.msg === 'sesame listening').length >= 2, { what: 'two workers listening' });
  });

  afterAll(async () => {
    await proc?.stop();
    await sink?.close();
    await database?.drop();
  });

  async function scrape(): Promise<Exposition> {
    const res = await freshGet(`${proc.url}/metrics`, { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    return parseExposition(res.body);
  }

  it('sums the requests both workers served, whichever worker answers the scrape', async () => {
    const before = (await scrape()).sum(COUNT, HEALTH);
    const ids = Array.from({ length: 40 }, (_, i) => `metrics-workers-${i}`);
    for (const id of ids) expect((await freshGet(`${proc.url}/healthz`, { 'x-request-id': id })).status).toBe(200);
    const served = await waitFor(() => {
      const lines = proc.logs().filter((l) => l.msg === 'request' && ids.includes(l.requestId as string));
      return lines.length === ids.length && lines.map((l) => l.worker as number);
    });
    expect([...new Set(served)].sort()).toEqual([1, 2]);
    // Several scrapes on fresh connections reach both workers; each answers for the group.
    const totals = [];
    for (let i = 0; i < 6; i++) totals.push((await scrape()).sum(COUNT, HEALTH) - before);
    expect(totals).toEqual([40, 40, 40, 40, 40, 40]);
    const scrapedBy = proc
      .logs()
      .filter((l) => l.msg === 'request' && l.path === '/metrics')
      .map((l) => l.worker as number);
    expect([...new Set(scrapedBy)].sort()).toEqual([1, 2]);
  });

  it('moves the sign-in counters once for a sign-in through the workers, and keeps shared gauges unmultiplied', async () => {
    const email = 'metrics-workers@example.com';
    const before = await scrape();
    const start = await fetch(`${proc.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...APP, connection: 'email', email, send: 'code' }),
    });
    expect(start.status).toBe(200);
    const otp = codeFrom(await sink.next(email));
    const token = await fetch(`${proc.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: OTP, ...APP, username: email, otp, realm: 'email', scope: 'openid email' }),
    });
    expect(token.status).toBe(200);
    const after = await scrape();
    const moved = (name: string, labels: Record<string, string>) => after.sum(name, labels) - before.sum(name, labels);
    expect([
      moved('sesame_codes_total', { channel: 'email', outcome: 'sent' }),
      moved('sesame_codes_total', { channel: 'email', outcome: 'verified' }),
      moved('sesame_sign_ins_total', { method: 'email_code', outcome: 'success' }),
      moved(COUNT, { method: 'POST', route: '/passwordless/start', status: '200' }),
    ]).toEqual([1, 1, 1, 1]);
    // Every worker reads the same keys and outbox: the group reports their value once, not the sum.
    const keyAge = after.value('sesame_signing_key_age_seconds', { alg: 'RS256' })!;
    expect(keyAge).toBeGreaterThanOrEqual(0);
    expect(keyAge).toBeLessThanOrEqual((Date.now() - startedAt) / 1000);
    expect(after.value('sesame_outbox_pending_messages')).toBeLessThanOrEqual(1);
    // Each process's own metrics, summed: two workers' CPU time.
    expect(after.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('keeps answering when a worker dies, and counts its replacement once it listens', async () => {
    const victim = childPids(proc.child.pid!)[0]!;
    process.kill(victim, 'SIGKILL');
    await waitForLog(proc, (l) => l.msg === 'worker died; starting another' && l.pid === victim);
    // The survivor answers for the group meanwhile (the dead worker's counts went with it).
    expect((await scrape()).value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    await waitFor(() => proc.logs().some((l) => l.msg === 'sesame listening' && l.worker === 3), { what: 'the third worker listening' });
    const before = (await scrape()).sum(COUNT, HEALTH);
    const ids = Array.from({ length: 30 }, (_, i) => `metrics-replaced-${i}`);
    for (const id of ids) expect((await freshGet(`${proc.url}/healthz`, { 'x-request-id': id })).status).toBe(200);
    const served = await waitFor(() => {
      const lines = proc.logs().filter((l) => l.msg === 'request' && ids.includes(l.requestId as string));
      return lines.length === ids.length && lines.map((l) => l.worker as number);
    });
    expect(served).toContain(3);
    expect((await scrape()).sum(COUNT, HEALTH) - before).toBe(30);
  });
});
