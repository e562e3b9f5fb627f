// Two `sesame serve` processes, A and B, on one PostgreSQL schema (reached through a TCP proxy), one
// config and one issuer, both running the delivery worker. A's SMTP server is a port where nothing
// listens (every send A tries fails and is retried), B's is a working sink: whoever claims a message
// first, it ends up delivered by B exactly once. Hosted sign-ins and Auth0-style codes are started
// on A; A is killed with SIGKILL; the database is then cut off for a few seconds under B and
// restored. B reports and answers the outage as specified, recovers by itself, delivers every
// message once, and the sign-ins started on A finish on B with the codes from the mail.
// The cut is timed to land while B has a message in flight (accepted by its SMTP server, not yet
// recorded as sent): the worst moment for "exactly once", made deterministic instead of left to luck.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { CALLBACK, EMAIL_SCOPE_TOKENS, WRONG_CODE } from '../api/fixture.js';
import { POSTGRES_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import { startServe, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { RoundRobin, type Instance } from '../scale/round-robin.js';
import { pollUntil, waitFor } from '../helpers/wait.js';
import { authorizationRequest } from '../helpers/authorization.js';
import {
  NATIVE,
  UNAVAILABLE,
  answer,
  clientCredentials,
  expectLoadThroughOutage,
  expectReadinessDuringOutage,
  faultFixture,
  introspect,
  logged,
  otpGrant,
  startCode,
  startLoad,
  summary as summarize,
  throughOutage,
  userinfo,
  type Sample as FaultSample,
} from './fixture.js';

const POLL = 200;
const SIGN_INS = 3;
const STARTS = 10;

type Kind = 'client_credentials' | 'introspect' | 'otp grant (wrong code)';
type Sample = FaultSample<Kind>;

const alertOf = (page: Page) => /role="alert"[^>]*>([^<]*)</.exec(page.html)?.[1]?.trim();

describe('two instances on PostgreSQL: SIGKILL of one, then a database outage', () => {
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let sink: MailSink | undefined;
  let procA: ServeProcess | undefined;
  let procB: ServeProcess | undefined;
  afterAll(async () => {
    await proxy?.restore();
    await procA?.kill();
    await procB?.stop();
    await proxy?.close();
    await sink?.close();
    await database?.drop();
  });

  it('loses no sign-in and no message: each delivered once by B, every code good on B', { timeout: 180_000 }, async () => {
    database = await createTestDatabase('postgresql');
    const target = new URL(database.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const databaseUrl = proxy.rewrite(database.url);
    const schema = target.searchParams.get('schema')!;
    sink = await startMailSink(await freePort());
    const deadSmtp = await freePort();
    // One config for both (no smtpUrl in it: each process gets its own SMTP_URL).
    const config = { ...faultFixture, delivery: { pollInterval: POLL, retryDelay: 1 } };
    const portA = await freePort();
    const issuer = `http://127.0.0.1:${portA}`;
    [procA, procB] = await Promise.all([
      startServe({ databaseUrl, config, port: portA, issuer, env: { SMTP_URL: `smtp://127.0.0.1:${deadSmtp}` } }),
      startServe({ databaseUrl, config, issuer, env: { SMTP_URL: sink.url } }),
    ]);
    const A: Instance = { name: 'A', url: procA.url };
    const B: Instance = { name: 'B', url: procB.url };
    const pidB = procB.child.pid;

    // (1) Hosted sign-ins through the round-robin "load balancer", up to the code page: the
    // authorization request starts on B, the email form is answered by A.
    const rr = new RoundRobin([A, B]);
    const signIns = [];
    for (let i = 0; i < SIGN_INS; i++) {
      const browser = new FormClient();
      const email = `survive-hosted${i}@example.com`;
      const { url, verifier, nonce, state } = await authorizationRequest(issuer, { client_id: NATIVE.client_id, redirect_uri: CALLBACK, scope: 'openid email' });
      const emailPage = await rr.follow(browser, url.href, issuer, {}, B);
      expect([email, emailPage.status, emailPage.html.includes('name="email"')], `trail ${rr.trail.join(' ')}`).toEqual([email, 200, true]);
      const mark = rr.trail.length;
      const codePage = await rr.submit(browser, emailPage, '/email', { email }, issuer, A);
      expect(rr.trail[mark]).toBe('A');
      expect([email, codePage.status, alertOf(codePage), codePage.html.includes('autocomplete="one-time-code"')]).toEqual([email, 200, undefined, true]);
      signIns.push({ email, browser, codePage, verifier, nonce, state });
    }

    // Auth0-style codes, all asked of A.
    const starts = Array.from({ length: STARTS }, (_, i) => `survive-start${i}@example.com`);
    const started = await Promise.all(starts.map((email) => startCode(A.url, email)));
    expect(started.map((r) => [r.status, r.body])).toEqual(starts.map((email) => [200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }]));

    // (2) SIGKILL A right away: its worker may be holding leases on messages it is failing to send.
    await procA.kill();
    const killedAt = Date.now();
    expect(procA.child.signalCode).toBe('SIGKILL');
    const recipients = [...signIns.map((s) => s.email), ...starts];
    const atKill = await outbox(schema, recipients);
    const now = Date.now();
    console.info(
      `at the kill: ${atKill.filter((r) => r.status === 'sent').length} of ${recipients.length} sent by B, ` +
        `${atKill.filter((r) => r.status === 'pending' && r.lockedUntil && r.lockedUntil.getTime() > now).length} pending under a lease, ` +
        `A had failed ${logged(procA.logs(), 'message delivery failed, will retry').length} sends`,
    );

    // (3) Cut the database under B while a light request loop runs against it.
    const cc = await clientCredentials(B.url);
    expect(cc).toMatchObject({ status: 200, body: { access_token: expect.any(String), token_type: 'Bearer' } });
    const clientToken = (cc.body as { access_token: string }).access_token;
    expect(await introspect(B.url, clientToken)).toMatchObject({ status: 200, body: { active: true, client_id: 'backend' } });
    const normal: Record<Kind, number> = { client_credentials: 200, introspect: 200, 'otp grant (wrong code)': 403 };
    const normalBody: Record<Kind, unknown> = {
      client_credentials: expect.objectContaining({ access_token: expect.any(String), token_type: 'Bearer' }),
      introspect: expect.objectContaining({ active: true, client_id: 'backend' }),
      'otp grant (wrong code)': WRONG_CODE,
    };
    const load = startLoad<Kind>(
      {
        client_credentials: async () => ({ answer: await clientCredentials(B.url) }),
        introspect: async () => ({ answer: await introspect(B.url, clientToken) }),
        // An address that never asked for a code: a database read, answered 403 normally.
        'otp grant (wrong code)': async () => ({ answer: await otpGrant(B.url, 'nobody-asked@example.com', '000000') }),
      },
      100,
    );
    const { kinds, samples } = load;
    // Some answers from before the cut, to compare with.
    await waitFor(() => kinds.every((kind) => samples.some((x) => x.kind === kind)), { what: 'an answer of each kind before the cut' });
    // The cut lands while B has a message in flight: the moment B's SMTP server has accepted one,
    // before B can record it as sent (cut() resets every database connection synchronously, before
    // the sink's reply goes out). If nothing is left to deliver, the cut comes without waiting.
    const waiting = recipients.filter((email) => sink!.to(email).length === 0);
    const inFlight = waiting.length
      ? await Promise.race(
          waiting.map((email) =>
            sink!.next(email, 75_000).then(
              () => email,
              () => undefined,
            ),
          ),
        )
      : undefined;
    // (4) Then restored: B is ready again by itself, in the same process.
    const { cutAt, ready, live, recoveredAfter, readyAfter } = await throughOutage(load, B.url, proxy);
    console.info(`cut ${cutAt - killedAt} ms after the kill, ${inFlight ? `as the message to ${inFlight} reached B's sink` : 'with no message in flight'}`);

    const summary = summarize(samples);
    const show = (x: Sample) => ({
      kind: x.kind,
      phase: x.phase,
      ms: x.ms,
      ...(x.error ? { error: x.error } : { status: x.answer!.status, body: x.answer!.body, json: x.answer!.contentType.includes('json') }),
    });
    console.info(`requests to B around the outage: ${JSON.stringify(summary)}; ready again ${recoveredAfter} ms after the restore`);

    // /readyz and /healthz during the outage.
    expectReadinessDuringOutage(ready, live);
    expect(recoveredAfter, `/readyz after the restore: ${JSON.stringify(readyAfter.slice(-3))}`).toBeDefined();
    expect(procB.child.exitCode).toBeNull();
    expect(procB.child.pid).toBe(pidB);

    // Every answer is the normal one or exactly the specified 503.
    const answered = samples.filter((x) => x.answer);
    const abnormal = answered.filter((x) => x.answer!.status !== normal[x.kind]);
    expect
      .soft(abnormal.map(show), `answers other than the normal one; all samples: ${JSON.stringify(summary)}`)
      .toEqual(abnormal.map((x) => ({ kind: x.kind, phase: x.phase, ms: x.ms, status: 503, body: UNAVAILABLE, json: true })));
    const normalOnes = answered.filter((x) => x.answer!.status === normal[x.kind]);
    expect.soft(normalOnes.map((x) => [x.kind, x.answer!.body])).toEqual(normalOnes.map((x) => [x.kind, normalBody[x.kind]]));
    // No request lost its connection, 503s during the outage, normal answers before the cut and after the recovery.
    expectLoadThroughOutage(samples, cutAt, normal, show);

    // (5) Every message arrives at B's sink, once. Waited for until each has arrived and the outbox
    // (read directly) records every one as sent: a message whose lease is still running (A held it
    // when it died, or B could not record it during the outage) may yet be sent after its 60 s lease.
    let rows: Awaited<ReturnType<typeof outbox>> = [];
    const arrived = async () => {
      rows = await outbox(schema, recipients);
      return recipients.every((email) => sink!.to(email).length > 0) && rows.every((r) => r.status === 'sent');
    };
    // A deadline passing is not the failure to report: the expect below names the missing mail and the outbox.
    await pollUntil(arrived, { timeout: 120_000, interval: 250 });
    // None lost: the sign-ins below need every code. (Checked for duplicates at the end, once B has stopped.)
    expect(
      recipients.filter((email) => sink!.to(email).length === 0),
      `no mail; outbox: ${JSON.stringify(rows)}`,
    ).toEqual([]);
    const mails = new Map(recipients.map((email) => [email, sink!.to(email)[0]!]));

    // (6) The hosted sign-ins started on A finish on B, with the codes from the mail.
    const onB = new RoundRobin([B]);
    const jwksB = createLocalJWKSet((await (await fetch(`${B.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
    for (const s of signIns) {
      const code = codeFrom(mails.get(s.email)!);
      const done = await onB.submit(s.browser, s.codePage, '/code', { code }, issuer);
      expect([s.email, done.location], `page ${done.status} ${alertOf(done) ?? done.html.slice(0, 300)}`).toEqual([
        s.email,
        expect.stringMatching(new RegExp(`^${CALLBACK}\\?code=[\\w-]+&state=${s.state}&iss=${encodeURIComponent(issuer).replace(/[.]/g, '\\.')}$`)),
      ]);
      const token = await fetch(`${B.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: new URL(done.location!).searchParams.get('code')!,
          redirect_uri: CALLBACK,
          code_verifier: s.verifier,
          client_id: NATIVE.client_id,
          client_secret: NATIVE.client_secret!,
        }),
        signal: AbortSignal.timeout(15_000),
      }).then(answer);
      expect([s.email, token.status, token.body]).toEqual([s.email, 200, EMAIL_SCOPE_TOKENS]);
      const tokens = token.body as { access_token: string; id_token: string };
      const { payload } = await jwtVerify(tokens.id_token, jwksB, { issuer, audience: NATIVE.client_id });
      expect(payload).toMatchObject({ iss: issuer, email: s.email, email_verified: true, nonce: s.nonce, sub: expect.any(String) });
      const info = await userinfo(B.url, tokens.access_token);
      expect([info.status, info.body]).toEqual([200, { sub: payload.sub, email: s.email, email_verified: true }]);
    }

    // The codes asked of A redeem with the OTP grant on B.
    for (const email of starts) {
      const res = await otpGrant(B.url, email, codeFrom(mails.get(email)!));
      expect([email, res.status, res.body]).toEqual([email, 200, EMAIL_SCOPE_TOKENS]);
      const info = await userinfo(B.url, (res.body as { access_token: string }).access_token);
      expect([email, info.status, info.body]).toEqual([email, 200, { sub: expect.any(String), email, email_verified: true }]);
    }

    // (7) Exactly once. A duplicate would come from a later delivery pass; rather than watch for a
    // while, stop B (it finishes the pass it is in first, and the sink has a message before its
    // sender hears back). A is dead, so after that nothing can send and the counts are final.
    expect(await procB.stop()).toBe(0);
    rows = await outbox(schema, recipients);
    const show5 = (r: OutboxRow) => ({ recipient: r.recipient, id: r.id, status: r.status, attempts: r.attempts, lockedUntil: r.lockedUntil && r.lockedUntil.getTime() - cutAt });
    // For a failure message: what B logged about each message, and its first failed delivery pass.
    const logB = procB.logs().map((l) => ({
      msg: l.msg,
      at: (l.time as number) - cutAt,
      messageId: l.messageId,
      attempt: l.attempt,
      err: String((l.err as { message?: string } | undefined)?.message ?? '')
        .split('\n')
        .at(-1),
    }));
    const trail =
      `outbox (lockedUntil in ms from the cut): ${JSON.stringify(rows.map(show5))}; ` +
      `B's delivery log (ms from the cut): ${JSON.stringify(logB.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('message ')))}; ` +
      `B's first failed delivery pass: ${JSON.stringify(logB.find((l) => l.msg === 'delivery pass failed'))}`;
    // None twice (soft, so every count is reported).
    expect
      .soft(
        recipients.map((email) => [email, sink!.to(email).length]),
        trail,
      )
      .toEqual(recipients.map((email) => [email, 1]));
    expect.soft(sink.messages).toHaveLength(recipients.length);
    // A could not deliver anything; B delivered each message once; none was given up.
    expect.soft(logged(procA.logs(), 'message delivered')).toEqual([]);
    expect.soft(logged(procB.logs(), 'message given up')).toEqual([]);
    expect.soft(rows.map((r) => [r.recipient, r.status])).toEqual([...recipients].sort().map((email) => [email, 'sent']));
    const deliveredByB = logged(procB.logs(), 'message delivered').map((l) => l.messageId as string);
    expect.soft([...deliveredByB].sort()).toEqual(rows.map((r) => r.id).sort());
    const failedByA = new Set(logged(procA.logs(), 'message delivery failed, will retry').map((l) => l.messageId as string));
    console.info(`A failed to send ${failedByA.size} of the ${recipients.length} messages before B delivered them; attempts per message: ${rows.map((r) => r.attempts).join(' ')}`);
  });
});

interface OutboxRow {
  id: string;
  recipient: string;
  status: string;
  attempts: number;
  lockedUntil: Date | null;
}

/** The outbox rows of `recipients`, read directly (not through the proxy), by recipient. */
async function outbox(schema: string, recipients: string[]): Promise<OutboxRow[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<OutboxRow>(
      `SELECT id, recipient, status, attempts, "lockedUntil" FROM "${schema}"."OutboxMessage" WHERE recipient = ANY($1) ORDER BY recipient, "createdAt"`,
      [recipients],
    );
    return rows;
  } finally {
    await client.end();
  }
}
