// How many database statements the hottest paths make (issue 18): a track of the actions API under
// a ten-rule policy, POST /passwordless/start, and userinfo, introspection and refresh. Each statement costs a round trip on
// PostgreSQL and, through Prisma, about 0.3 ms of CPU, so these counts are the budget the bench's
// p99 targets rest on; a change that adds one shows up here before it shows up in the bench.
// Counted at the drivers (pg's Client.query, better-sqlite3's statements), so Prisma's own
// transactions and the prepared statements of storage/sql.ts count alike.
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { saveActionConfiguration } from '../../src/storage/action-tenants.js';
import { ENGINES } from '../helpers/databases.js';
import { signInWithEmail, startLogin } from '../helpers/login.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

/** Statements run by any database driver in this process since the last `take()`. */
const counted = { n: 0, log: [] as string[] };
function take(): { n: number; log: string[] } {
  const seen = { ...counted };
  counted.n = 0;
  counted.log = [];
  return seen;
}
function note(text: unknown): void {
  counted.n++;
  counted.log.push(String(typeof text === 'object' && text !== null && 'text' in text ? (text as { text: string }).text : text).slice(0, 90));
}

const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  note(args[0]);
  return (pgQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pgQuery;
const probe = new Database(':memory:');
const statementProto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, (...a: unknown[]) => unknown>;
probe.close();
for (const method of ['run', 'get', 'all', 'iterate'] as const) {
  const original = statementProto[method]!;
  statementProto[method] = function countedStatement(this: { source: string }, ...args: unknown[]) {
    note(this.source);
    return original.apply(this, args);
  };
}

const v = (name: string) => ({ var: name });
const rule = (ruleId: string, type: string, conditions: unknown) => ({ ruleId, name: ruleId, priority: 0, type, conditions });
/** The bench's ten rules for actions_track (bench/actions.ts TRACK_RULES), every kind of fact. */
const TEN_RULES = {
  defaultOutcome: 'ALLOW',
  rules: [
    rule('bots', 'BLOCK', v('userAgent.isBot')),
    rule('disposable', 'BLOCK', v('email.isDisposable')),
    rule('sanctioned', 'BLOCK', { in: [v('ip.country'), ['KP', 'IR']] }),
    rule('busy-ip', 'REVIEW', { '>': [v('ip.actionCount.1h'), 30] }),
    rule('busy-user', 'CHALLENGE', { '>': [v('user.actionCount.1h'), 10] }),
    rule('hosting', 'CHALLENGE', { in: [v('ip.asn'), [16509]] }),
    rule('new-device', 'CHALLENGE', { and: [v('device.isNew'), { '>': [v('custom.amount'), 500] }] }),
    rule('abroad', 'CHALLENGE', { and: [{ '!': { in: [v('ip.country'), ['FR']] } }, { '>': [v('custom.amount'), 200] }] }),
    rule('young', 'REVIEW', { and: [{ '<': [v('custom.accountAgeDays'), 3] }, { '>': [v('custom.amount'), 100] }] }),
    rule('business', 'ALLOW', { and: [{ '==': [v('custom.plan'), 'business'] }, { '!': v('device.isNew') }] }),
  ],
};

/**
 * At most this many statements per request: the counts after issue 18's move to prepared SQL (from
 * 16 per track and 12 per start on both engines). A start's code, message and audit event are one
 * statement on PostgreSQL; on SQLite they are one synchronous transaction, counted with its BEGIN
 * and COMMIT (six statements of a few microseconds, no wait between them).
 */
const BUDGET = {
  // userinfo, introspection, refresh: the token read with its session, grant and user in one statement
  // (oidc-adapter.ts; from 4, 5 and 7), then a refresh's consume and its two new tokens written
  // together when the request ends (one statement on PostgreSQL, one transaction on SQLite).
  sqlite: { trackNewUser: 7, trackKnownUser: 6, start: 12, userinfo: 1, introspection: 1, refresh: 6 },
  // start: +1 for the NOTIFY that wakes other instances' workers (on its own connection, not awaited by the request).
  postgresql: { trackNewUser: 7, trackKnownUser: 6, start: 8, userinfo: 1, introspection: 1, refresh: 3 },
};

/** A first-party web app that signs users in and refreshes their tokens, as the bench's does. */
const WEB = {
  client_id: 'web',
  client_secret: 'web-secret-0123456789',
  redirect_uris: ['http://127.0.0.1:9/cb'],
  grant_types: ['authorization_code', 'refresh_token'],
  first_party: true,
};

describe.each(ENGINES)('statements per request on %s', (engine) => {
  let t: TestSesame;
  let secret: string;
  const client = {
    client_id: 'app',
    client_secret: 'app-secret-0123456789',
    redirect_uris: ['https://app.test/cb'],
    grant_types: ['authorization_code', 'http://auth0.com/oauth/grant-type/passwordless/otp'],
  };
  beforeAll(async () => {
    t = await startTestSesame(engine, { clients: [client, WEB], actions: { tracksPerMinute: 1000 } });
    // The outbox worker's polls would count too; this file counts requests only.
    await t.sesame.worker.stop();
    secret = await issueTenantSecret(t.sesame.services.db, 'app');
    await saveActionConfiguration(t.sesame.services.db, 'app', 'transfer', JSON.stringify(TEN_RULES));
  });
  afterAll(() => t?.stop());

  async function track(userId: string) {
    const body = {
      ipAddress: '203.0.113.9',
      userAgent: 'Mozilla/5.0 Firefox/133.0',
      deviceId: `${userId}-phone`,
      email: `${userId}@example.com`,
      custom: { amount: 50, accountAgeDays: 9, plan: 'business' },
    };
    take();
    const res = await fetch(`${t.url}/v1/users/${userId}/actions/transfer`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${secret}:`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const seen = take();
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ state: 'ALLOW', isEnrolled: false });
    return seen;
  }

  it('tracks an action in a handful of statements', async () => {
    await track('warm-up'); // loads the IP data and prepares the statements
    const first = await track('alice');
    const again = await track('alice');
    console.log(`[${engine}] track, new user: ${first.n} statements\n  ${first.log.join('\n  ')}\n[${engine}] track, known user: ${again.n}\n  ${again.log.join('\n  ')}`);
    expect(first.n).toBeLessThanOrEqual(BUDGET[engine].trackNewUser);
    expect(again.n).toBeLessThanOrEqual(BUDGET[engine].trackKnownUser);
  });

  it('starts a passwordless sign-in in a handful of statements', async () => {
    const start = async (email: string) => {
      take();
      const res = await fetch(`${t.url}/passwordless/start`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'app', client_secret: 'app-secret-0123456789', connection: 'email', email, send: 'code' }),
      });
      const seen = take();
      expect(res.status).toBe(200);
      return seen;
    };
    await start('warm-up@example.com');
    const seen = await start('bob@example.com');
    console.log(`[${engine}] passwordless start: ${seen.n} statements\n  ${seen.log.join('\n  ')}`);
    expect(seen.n).toBeLessThanOrEqual(BUDGET[engine].start);
  });

  it('serves userinfo, introspection and refresh in a handful of statements', async () => {
    const web = await oidc.discovery(new URL(t.issuer), WEB.client_id, undefined, oidc.ClientSecretPost(WEB.client_secret), { execute: [oidc.allowInsecureRequests] });
    // The sign-in's code goes out by mail: the worker runs for it alone.
    t.sesame.worker.start();
    const started = await startLogin(t, web);
    const { result } = await signInWithEmail(t, started, 'carol@example.com');
    await t.sesame.worker.stop();
    const tokens = await oidc.authorizationCodeGrant(web, new URL(result.location!), {
      pkceCodeVerifier: started.verifier,
      expectedState: started.state,
      expectedNonce: started.nonce,
    });
    const sub = tokens.claims()!.sub;
    const measure = async <T>(what: string, request: () => Promise<T>) => {
      await request(); // prepares the statements
      take();
      const answer = await request();
      const seen = take();
      console.log(`[${engine}] ${what}: ${seen.n} statements\n  ${seen.log.join('\n  ')}`);
      return { answer, n: seen.n };
    };
    const userinfo = await measure('userinfo', () => oidc.fetchUserInfo(web, tokens.access_token, sub));
    expect(userinfo.answer).toEqual({ sub, email: 'carol@example.com', email_verified: true });
    const introspection = await measure('introspection', () => oidc.tokenIntrospection(web, tokens.access_token));
    expect(introspection.answer).toEqual({
      active: true,
      client_id: 'web',
      sub,
      scope: 'openid email',
      token_type: 'Bearer',
      iss: t.issuer,
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    let refreshToken = tokens.refresh_token!;
    const refresh = await measure('refresh', async () => {
      const refreshed = await oidc.refreshTokenGrant(web, refreshToken);
      refreshToken = refreshed.refresh_token!;
      return refreshed;
    });
    expect(refresh.answer.claims()).toMatchObject({ sub, email: 'carol@example.com' });
    expect({ userinfo: userinfo.n, introspection: introspection.n, refresh: refresh.n }).toEqual({
      userinfo: BUDGET[engine].userinfo,
      introspection: BUDGET[engine].introspection,
      refresh: BUDGET[engine].refresh,
    });
  });
});
