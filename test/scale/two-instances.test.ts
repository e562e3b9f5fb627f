// Two `sesame serve` processes on one PostgreSQL schema, one issuer, one config and one SMTP server,
// behind a round-robin "load balancer": a sign-in may touch both on every step, codes, attempt
// counters and rate limits are shared, keys rotated through one are served by the other, and the
// two delivery workers never send a message twice.
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import { runCli, startServe, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { RoundRobin, type Instance } from './round-robin.js';
import { authorizationRequest } from '../helpers/authorization.js';
import { CALLBACK, EMAIL_SCOPE_TOKENS, OTP, WRONG_CODE } from '../api/fixture.js';

const API = 'https://api.example';
const APP = { client_id: 'app', client_secret: 'app-secret-app-secret-app-secret' };
const MAX_ATTEMPTS = 3;
const PUBLIC_SENDS_PER_IP = 3;
const POLL_INTERVAL = 200;

function sesameConfig(smtpUrl: string) {
  return {
    smtpUrl,
    emailFrom: 'Sesame Test <login@sesame.test>',
    keyCheckInterval: 1,
    delivery: { pollInterval: POLL_INTERVAL },
    codes: { maxAttempts: MAX_ATTEMPTS },
    // The per-IP cap of public clients is what the limit test shows shared; the general per-IP cap
    // is raised so the 40 sends of the delivery test (all from 127.0.0.1) stay under it.
    rateLimits: { publicSendsPerIpPerHour: PUBLIC_SENDS_PER_IP, sendsPerIpPerHour: 500 },
    clients: [
      { ...APP, client_name: 'App', redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token', OTP], first_party: true },
      { client_id: 'spa', client_name: 'SPA', token_endpoint_auth_method: 'none', redirect_uris: [CALLBACK], grant_types: ['authorization_code', OTP], first_party: true },
    ],
    apis: [{ identifier: API, scopes: ['read'] }],
  };
}

const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');
const alertOf = (page: Page) => /role="alert"[^>]*>([^<]*)</.exec(page.html)?.[1]?.trim();
const json = async (res: Response) => [res.status, (await res.json()) as Record<string, unknown>] as const;

describe('two Sesame processes on one PostgreSQL schema', { timeout: 60_000 }, () => {
  let database: TestDatabase;
  let sink: MailSink;
  let config: ReturnType<typeof sesameConfig>;
  let procA: ServeProcess;
  let procB: ServeProcess;
  let A: Instance;
  let B: Instance;
  let issuer: string;
  let n = 0;
  const nextEmail = (what: string) => `${what}${++n}@example.com`;

  beforeAll(async () => {
    database = await createTestDatabase('postgresql');
    sink = await startMailSink();
    config = sesameConfig(sink.url);
    const portA = await freePort();
    issuer = `http://127.0.0.1:${portA}`;
    // Started at the same moment, as a deployment does: migrations and first-start keys race.
    [procA, procB] = await Promise.all([startServe({ databaseUrl: database.url, config, port: portA, issuer }), startServe({ databaseUrl: database.url, config, issuer })]);
    A = { name: 'A', url: procA.url };
    B = { name: 'B', url: procB.url };
  });

  afterAll(async () => {
    await Promise.all([procA?.stop(), procB?.stop()]);
    await sink?.close();
    await database?.drop();
  });

  const post = (instance: Instance, path: string, body: Record<string, string>) =>
    fetch(`${instance.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const start = (instance: Instance, body: Record<string, unknown>) =>
    fetch(`${instance.url}/passwordless/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const sendCode = (instance: Instance, email: string) => start(instance, { ...APP, connection: 'email', email, send: 'code' });
  const otpGrant = (instance: Instance, email: string, otp: string, extra: Record<string, string> = {}) =>
    post(instance, '/oauth/token', { grant_type: OTP, ...APP, username: email, otp, realm: 'email', ...extra });
  const jwksOf = async (instance: Instance) => (await (await fetch(`${instance.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  const kidsOf = async (instance: Instance) => (await jwksOf(instance)).keys.map((k) => k.kid!).sort();

  /** A sign-in code for `email` sent through `instance`, read from the mail. */
  async function codeSentBy(instance: Instance, email: string): Promise<string> {
    expect(await json(await sendCode(instance, email))).toEqual([200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }]);
    return codeFrom(await sink.next(email));
  }

  /** An authorization request of `app` started on `first`, at its email step; hops alternate. */
  async function authorize(rr: RoundRobin, browser: FormClient, first: Instance) {
    const { url, verifier, nonce, state } = await authorizationRequest(issuer, { client_id: APP.client_id, redirect_uri: CALLBACK, scope: 'openid email' });
    const page = await rr.follow(browser, url.href, issuer, {}, first);
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="email"');
    return { page, verifier, nonce, state };
  }

  /** Checks a token answer of `app` for `openid email` whole; its tokens and the id_token's claims, verified with the keys A serves. */
  async function issued([status, tokens]: readonly [number, Record<string, unknown>]) {
    expect([status, tokens]).toEqual([200, EMAIL_SCOPE_TOKENS]);
    const { payload } = await jwtVerify(tokens.id_token as string, createLocalJWKSet(await jwksOf(A)), { issuer, audience: APP.client_id });
    return { tokens, payload };
  }

  it('both say they are the one issuer', async () => {
    for (const instance of [A, B]) {
      const [status, discovery] = await json(await fetch(`${instance.url}/.well-known/openid-configuration`));
      expect([status, discovery.issuer, discovery.token_endpoint]).toEqual([200, issuer, `${issuer}/oauth/token`]);
    }
  });

  it('leaves one active signing key per algorithm after their simultaneous first start', async () => {
    const listed = await runCli(['keys', 'list', '--json'], { databaseUrl: database.url, config });
    expect([listed.code, listed.stderr]).toEqual([0, '']);
    const keys = (JSON.parse(listed.stdout.trim().split('\n').at(-1)!) as { keys: Array<{ kid: string; alg: string; state: string }> }).keys;
    // "Makes sure one active key per algorithm exists" (src/storage/signing-keys.ts): two instances
    // starting at once on an empty database must not each add one.
    expect(keys.map((k) => [k.alg, k.state]).sort()).toEqual([
      ['ES256', 'active'],
      ['RS256', 'active'],
    ]);
  });

  it('finishes on B a hosted sign-in started on A, the instances alternating step by step', async () => {
    const rr = new RoundRobin([A, B]);
    const browser = new FormClient();
    const email = nextEmail('hosted');
    const { page: emailPage, verifier, nonce, state } = await authorize(rr, browser, A);
    const codePage = await rr.submit(browser, emailPage, '/email', { email }, issuer, B);
    expect(codePage.status).toBe(200);
    expect(codePage.html).toContain('autocomplete="one-time-code"');
    const code = codeFrom(await sink.next(email));
    const done = await rr.submit(browser, codePage, '/code', { code }, issuer, A);
    expect(done.location, `trail ${rr.trail.join(' ')}; page ${done.status} ${alertOf(done) ?? done.html.slice(0, 500)}`).toMatch(
      new RegExp(`^${CALLBACK}\\?code=[\\w-]+&state=${state}&iss=${encodeURIComponent(issuer).replace(/[.]/g, '\\.')}$`),
    );
    // Every hop alternated: the authorization request, its redirects and both forms went to both.
    expect(rr.trail[0]).toBe('A');
    expect(rr.trail.filter((name) => name === 'B').length).toBeGreaterThanOrEqual(2);

    const authorizationCode = new URL(done.location!).searchParams.get('code')!;
    const { tokens, payload } = await issued(
      await json(await post(B, '/oauth/token', { grant_type: 'authorization_code', code: authorizationCode, redirect_uri: CALLBACK, code_verifier: verifier, ...APP })),
    );
    expect(payload).toMatchObject({ iss: issuer, aud: APP.client_id, email, email_verified: true, nonce, sub: expect.any(String) });
    const userinfo = await fetch(`${A.url}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token as string}` } });
    expect(await json(userinfo)).toEqual([200, { sub: payload.sub, email, email_verified: true }]);
  });

  it('redeems on B a code sent by A, once: A then refuses it', async () => {
    const email = nextEmail('otp');
    const otp = await codeSentBy(A, email);
    const { payload } = await issued(await json(await otpGrant(B, email, otp, { scope: 'openid email' })));
    expect(payload).toMatchObject({ email, email_verified: true });
    expect(await json(await otpGrant(A, email, otp))).toEqual([403, WRONG_CODE]);
  });

  it('counts wrong codes of the hosted pages across both: tries left go down on either, then the right code is refused', async () => {
    const rr = new RoundRobin([A, B]);
    const browser = new FormClient();
    const email = nextEmail('tries');
    const { page } = await authorize(rr, browser, B);
    const codePage = await rr.submit(browser, page, '/email', { email }, issuer, A);
    const code = codeFrom(await sink.next(email));
    const answers: Array<[string, number, string | undefined]> = [];
    for (const instance of [B, A, B]) {
      const answer = await rr.submit(browser, codePage, '/code', { code: wrong(code) }, issuer, instance);
      answers.push([instance.name, answer.status, alertOf(answer)]);
    }
    expect(answers).toEqual([
      ['B', 400, 'That code is not right. Check the newest email and try again. Tries left: 2.'],
      ['A', 400, 'That code is not right. Check the newest email and try again. Tries left: 1.'],
      ['B', 400, 'That code is not right. Check the newest email and try again. Tries left: 0.'],
    ]);
    const refused = await rr.submit(browser, codePage, '/code', { code }, issuer, A);
    expect([refused.status, refused.location, alertOf(refused)]).toEqual([400, undefined, 'Too many wrong tries for this code. Send a new code to try again.']);
  });

  it(`refuses the right OTP after ${MAX_ATTEMPTS} wrong ones in total on A and B`, async () => {
    const email = nextEmail('grant-tries');
    const otp = await codeSentBy(A, email);
    const answers = [];
    for (const instance of [B, A, B]) answers.push(await json(await otpGrant(instance, email, wrong(otp))));
    const wrongOtp = [403, WRONG_CODE];
    expect(answers).toEqual([wrongOtp, wrongOtp, wrongOtp]);
    // One instance alone has seen at most two wrong tries; together they have used up the code.
    expect(await json(await otpGrant(A, email, otp))).toEqual(wrongOtp);
    expect(await json(await otpGrant(B, email, otp))).toEqual(wrongOtp);
  });

  it(`caps public sends per IP at ${PUBLIC_SENDS_PER_IP} in total across A and B, not per instance`, async () => {
    const rr = new RoundRobin([A, B]);
    const emails = Array.from({ length: PUBLIC_SENDS_PER_IP + 2 }, () => nextEmail('public'));
    const answers = [];
    for (const email of emails) {
      const res = await rr.fetch('/passwordless/start', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'spa', connection: 'email', email, send: 'code' }),
      });
      answers.push([rr.trail.at(-1), res.headers.get('retry-after'), ...(await json(res))]);
    }
    const sent = (name: string, email: string) => [name, null, 200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }];
    const limited = (name: string) => [name, '3600', 429, { error: 'too_many_requests', error_description: 'Too many requests; wait 3600 s before asking for another code.' }];
    expect(answers).toEqual([sent('A', emails[0]!), sent('B', emails[1]!), sent('A', emails[2]!), limited('B'), limited('A')]);
  });

  it('applies the resend cooldown of an address on both: a send on B right after one on A is refused', async () => {
    const email = nextEmail('cooldown');
    await codeSentBy(A, email);
    const again = await sendCode(B, email);
    const retryAfter = Number(again.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(28);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(await json(again)).toEqual([429, { error: 'too_many_requests', error_description: `Too many requests; wait ${retryAfter} s before asking for another code.` }]);
  });

  it('serves on B, within seconds, keys rotated with the CLI; tokens A signs with them verify against B', async () => {
    // Before: one key set on both (however the simultaneous first start went).
    const before = await waitFor(
      async () => {
        const kids = await kidsOf(A);
        return JSON.stringify(kids) === JSON.stringify(await kidsOf(B)) && kids;
      },
      { timeout: 5000, interval: 100, what: 'one key set on A and B' },
    );
    expect(await kidsOf(B)).toEqual(before);
    // A token signed before the rotation, to check it still verifies after.
    const earlyEmail = nextEmail('early');
    const [, early] = await json(await otpGrant(A, earlyEmail, await codeSentBy(B, earlyEmail), { scope: 'openid email' }));

    const rotated = await runCli(['keys', 'rotate', '--json'], { databaseUrl: database.url, config });
    expect([rotated.code, rotated.stderr]).toEqual([0, '']);
    const keys = (JSON.parse(rotated.stdout.trim().split('\n').at(-1)!) as { keys: Array<{ kid: string; alg: string; state: string }> }).keys;
    const fresh = keys.filter((k) => k.state === 'active');
    expect(fresh.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(before).not.toEqual(expect.arrayContaining(fresh.map((k) => k.kid)));

    const rotatedAt = Date.now();
    const seenBy: Record<string, number> = {};
    for (const instance of [B, A]) {
      let kids: string[] = [];
      await waitFor(
        async () => {
          kids = await kidsOf(instance);
          return fresh.every((k) => kids.includes(k.kid));
        },
        {
          timeout: Math.max(0, 5000 - (Date.now() - rotatedAt)),
          interval: 100,
          what: `${instance.name} serving the rotated keys within 5 s of the rotation`,
          detail: () => `it serves ${kids.join(', ')}`,
        },
      );
      seenBy[instance.name] = Date.now() - rotatedAt;
      // The retired keys stay published while tokens they signed may live.
      expect(kids).toEqual(expect.arrayContaining(before));
    }
    expect(seenBy.B).toBeLessThan(5000);

    const email = nextEmail('rotated');
    const [status, tokens] = await json(await otpGrant(A, email, await codeSentBy(B, email), { scope: 'openid email', audience: API }));
    expect(status).toBe(200);
    const jwksB = createLocalJWKSet(await jwksOf(B));
    const rs256 = fresh.find((k) => k.alg === 'RS256')!.kid;
    expect(decodeProtectedHeader(tokens.id_token as string).kid).toBe(rs256);
    expect((await jwtVerify(tokens.id_token as string, jwksB, { issuer, audience: APP.client_id })).payload).toMatchObject({ email });
    expect(fresh.map((k) => k.kid)).toContain(decodeProtectedHeader(tokens.access_token as string).kid);
    expect((await jwtVerify(tokens.access_token as string, jwksB, { issuer, audience: API })).payload).toMatchObject({ client_id: APP.client_id });
    // And a token A signed before the rotation still verifies against B.
    expect(before).toContain(decodeProtectedHeader(early.id_token as string).kid);
    expect((await jwtVerify(early.id_token as string, jwksB, { issuer, audience: APP.client_id })).payload).toMatchObject({ email: earlyEmail });
  });

  it('delivers each of 40 codes requested on both exactly once, though both run the delivery worker', async () => {
    const deliveredLines = (proc: ServeProcess) => proc.logs().filter((l) => l.msg === 'message delivered');
    const skip = { A: deliveredLines(procA).length, B: deliveredLines(procB).length };
    const emails = Array.from({ length: 40 }, (_, i) => `bulk${i}@example.com`);
    const answers = await Promise.all(emails.map((email, i) => sendCode(i % 2 ? B : A, email).then(json)));
    expect(answers).toEqual(emails.map((email) => [200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }]));

    const received = (email: string) => sink.messages.filter((m) => m.to.includes(email)).length;
    await waitFor(() => emails.every((e) => received(e) > 0), { timeout: 60_000, what: 'a mail to each of the 40 addresses' }).catch((err: Error) => {
      throw new Error(`${err.message}; none yet for ${emails.filter((e) => received(e) === 0).join(', ')}`);
    });
    // A duplicate would come from a later pass of either worker. Rather than watch for a while,
    // stop both (each finishes the pass it is in first, and the sink has a message before its
    // sender hears back): after that nothing can send, so the counts below are final. This is the
    // last test that needs the instances.
    expect(await Promise.all([procA.stop(), procB.stop()])).toEqual([0, 0]);
    expect(emails.map(received)).toEqual(emails.map(() => 1));

    const byA = deliveredLines(procA)
      .slice(skip.A)
      .map((l) => l.messageId as string);
    const byB = deliveredLines(procB)
      .slice(skip.B)
      .map((l) => l.messageId as string);
    const all = [...byA, ...byB];
    expect(all).toHaveLength(40);
    expect(new Set(all).size).toBe(40);
    expect(byA.filter((id) => byB.includes(id))).toEqual([]);

    // The outbox agrees: one row per address, sent on the first attempt, by one of the two.
    const schema = new URL(database.url).searchParams.get('schema')!;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string; recipient: string; status: string; attempts: number }>(
        `SELECT id, recipient, status, attempts FROM "${schema}"."OutboxMessage" WHERE recipient = ANY($1) ORDER BY recipient`,
        [emails],
      );
      expect(rows.map((r) => [r.recipient, r.status, r.attempts])).toEqual([...emails].sort().map((e) => [e, 'sent', 1]));
      expect(rows.map((r) => r.id).sort()).toEqual([...all].sort());
    } finally {
      await client.end();
    }
    // Which worker sends what is a race (each wakes on its own enqueues, both poll): not asserted,
    // only reported, so a run where one worker happened to claim everything does not fail.
    console.info(`delivery split: A sent ${byA.length}, B sent ${byB.length}`);
  });

  it('logged no errors on either instance', () => {
    for (const proc of [procA, procB]) expect(proc.logs().filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});
