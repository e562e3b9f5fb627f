// The management API's outbox area on a running server, on both databases: given-up and waiting
// messages listed newest first a page at a time, never with their content; a code email that failed
// against a dead SMTP server retried once the server is up (exactly one delivery, the code signs in,
// audited with the management client), on PostgreSQL by eight parallel retries of which one wins. The
// refusals: unknown, pending, sent and erased messages, bad parameters, a tampered cursor, and
// tokens without the area's scope. Every answer is checked against the served OpenAPI document.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRow } from '../../src/storage/outbox.js';
import { ENGINES } from '../helpers/databases.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { otpGrant, startCode } from '../faults/fixture.js';
import { documentedApi, tokenOf, usersFixture, type Answer } from './management-users-fixture.js';

const SECRET_CODE = '918273';
const MINUTE = 60_000;

describe.each(ENGINES)('the outbox area of the management API on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let sink: MailSink | undefined;
  let smtpPort: number;
  let api: (method: string, path: string, bearer: string | null, body?: unknown) => Promise<Answer>;
  let reader: string;
  let writer: string;
  beforeAll(async () => {
    // Nothing listens on this port until a test starts the sink there: every send fails, and is given up at once.
    smtpPort = await freePort();
    t = await startTestSesame(engine, { ...usersFixture, smtpUrl: `smtp://127.0.0.1:${smtpPort}`, delivery: { pollInterval: 200, maxAttempts: 1 } });
    api = await documentedApi(t);
    reader = await tokenOf(t, 'outbox:read');
    writer = await tokenOf(t, 'outbox:write');
  });
  afterAll(async () => {
    await t?.stop();
    await sink?.close();
  });
  const db = () => t.sesame.services.db;
  const base = Date.now();
  const at = (ms: number) => new Date(base + ms);

  /** A message row as the worker leaves it, with a code in its subject and body. */
  async function seed(recipient: string, data: Record<string, unknown>) {
    const row = outboxRow({ channel: 'email', recipient, subject: `${SECRET_CODE} is your code`, text: `Your code is ${SECRET_CODE}`, html: `<b>${SECRET_CODE}</b>` });
    await db().prisma.outboxMessage.create({ data: { ...row, ...data } });
    return row.id;
  }
  const failedAt = (ms: number, recipient: string, more: Record<string, unknown> = {}) =>
    seed(recipient, { status: 'failed', attempts: 8, lastError: '421 4.3.2 Service not available', createdAt: at(ms), ...more });

  const view = (id: string, recipient: string, createdAt: Date, more: Record<string, unknown> = {}) => ({
    id,
    channel: 'email',
    connectionId: null,
    recipient,
    state: 'failed',
    attempts: 8,
    lastError: '421 4.3.2 Service not available',
    nextAttemptAt: null,
    createdAt: createdAt.toISOString(),
    retryable: true,
    ...more,
  });

  it('lists given-up and waiting messages newest first, a page at a time, never their content', async () => {
    const oldest = await failedAt(-3 * MINUTE, 'oldest@example.com');
    const middle = await failedAt(-2 * MINUTE, 'middle@example.com');
    const newest = await failedAt(-1 * MINUTE, '+14155550100', { channel: 'sms', connectionId: 'sms' });
    // Given up two days ago: the sweep erased its content, so it can no longer be retried.
    const erased = await failedAt(-2 * 24 * 60 * MINUTE, 'erased@example.com', { subject: null, text: '', html: null });
    const waiting = await seed('waiting@example.com', { attempts: 2, lastError: 'connect ECONNREFUSED', nextAttemptAt: at(60 * MINUTE), createdAt: at(-30_000) });
    await seed('sent@example.com', { status: 'sent', attempts: 1, createdAt: at(-10_000), text: '' });
    await seed('skipped@example.com', { status: 'skipped', lastError: 'no SMS connection', createdAt: at(-5_000), text: '' });

    const first = await api('GET', '/outbox?state=failed&limit=2', reader);
    expect(first).toEqual({
      status: 200,
      body: {
        messages: [view(newest, '+14155550100', at(-MINUTE), { channel: 'sms', connectionId: 'sms' }), view(middle, 'middle@example.com', at(-2 * MINUTE))],
        next: expect.any(String),
      },
    });
    const second = await api('GET', `/outbox?state=failed&limit=2&cursor=${first.body.next}`, reader);
    expect(second).toEqual({
      status: 200,
      body: {
        messages: [view(oldest, 'oldest@example.com', at(-3 * MINUTE)), view(erased, 'erased@example.com', at(-2 * 24 * 60 * MINUTE), { retryable: false })],
        next: null,
      },
    });
    const pending = await api('GET', '/outbox?state=pending', reader);
    expect(pending).toEqual({
      status: 200,
      body: {
        messages: [
          view(waiting, 'waiting@example.com', at(-30_000), {
            state: 'pending',
            attempts: 2,
            lastError: 'connect ECONNREFUSED',
            nextAttemptAt: at(60 * MINUTE).toISOString(),
            retryable: false,
          }),
        ],
        next: null,
      },
    });
    const both = await api('GET', '/outbox', reader);
    expect([both.status, both.body.messages.map((m: { id: string }) => m.id), both.body.next]).toEqual([200, [waiting, newest, middle, oldest, erased], null]);
    expect(JSON.stringify([first, second, pending, both])).not.toContain(SECRET_CODE);
    // Leave nothing pending for the worker of the tests below.
    await db().prisma.outboxMessage.deleteMany({ where: { id: waiting } });
  });

  it('refuses bad parameters and a cursor it did not give with a 400 naming the parameter', async () => {
    const bad = (detail: string) => ({ status: 400, body: { error: 'invalid_request', error_description: detail } });
    expect(await api('GET', '/outbox?state=sent', reader)).toEqual(bad('state: must be "pending" or "failed".'));
    expect(await api('GET', '/outbox?limit=0', reader)).toEqual(bad('limit: Too small: expected number to be >=1.'));
    expect(await api('GET', '/outbox?limit=201', reader)).toEqual(bad('limit: Too big: expected number to be <=200.'));
    expect(await api('GET', '/outbox?body=1', reader)).toEqual(bad('query: Unrecognized key: "body".'));
    for (const cursor of ['nonsense', Buffer.from('[1,2]').toString('base64url'), Buffer.from('{"a":1}').toString('base64url'), '%00']) {
      expect(await api('GET', `/outbox?cursor=${cursor}`, reader), cursor).toEqual(bad('cursor: not a cursor this API gave.'));
    }
  });

  it('retries a code email given up while the SMTP server was down: delivered once, the code signs in, audited', async () => {
    const email = `down-${engine}-${randomUUID().slice(0, 6)}@example.com`;
    expect((await startCode(t.url, email)).status).toBe(200);
    const failed = await waitFor(() => db().prisma.outboxMessage.findFirst({ where: { recipient: email, status: 'failed' } }), { what: 'the code email to be given up' });
    expect(failed.lastError).toMatch(/ECONNREFUSED/);
    sink = await startMailSink(smtpPort);

    // Eight admins' scripts at once on PostgreSQL (row locks decide); one on SQLite (one writer).
    const tries = engine === 'postgresql' ? 8 : 1;
    const answers = await Promise.all(Array.from({ length: tries }, () => api('POST', `/outbox/${failed.id}/retry`, writer)));
    const won = answers.filter((a) => a.status === 200);
    expect(won).toEqual([
      {
        status: 200,
        body: {
          id: failed.id,
          channel: 'email',
          connectionId: null,
          recipient: email,
          state: 'pending',
          attempts: 0,
          lastError: failed.lastError,
          nextAttemptAt: expect.stringMatching(/^\d{4}-/),
          createdAt: failed.createdAt.toISOString(),
          retryable: false,
        },
      },
    ]);
    expect(answers.filter((a) => a.status !== 200)).toEqual(Array.from({ length: tries - 1 }, () => ({ status: 409, body: notWaiting })));

    const mail = await sink.next(email);
    expect((await otpGrant(t.url, email, codeFrom(mail))).status).toBe(200);
    await waitFor(async () => (await db().prisma.outboxMessage.findUniqueOrThrow({ where: { id: failed.id } })).status === 'sent', { what: 'the retry to be recorded' });
    // Recorded as sent: no worker can send it again, so one is final.
    expect(sink.to(email)).toHaveLength(1);
    const audits = await db().prisma.auditEvent.findMany({ where: { type: 'outbox.retried', identifier: failed.id } });
    expect(audits.map((a) => [a.clientId, a.userId, a.reason, a.count])).toEqual([['ops', null, 'via management_api by management_api:ops', 1]]);
    // Sent now: a second retry changes nothing.
    expect(await api('POST', `/outbox/${failed.id}/retry`, writer)).toEqual({ status: 409, body: notWaiting });
  });

  const notWaiting = { error: 'conflict', error_description: 'This message is not waiting for a retry: it is pending, sent or skipped, or was retried already.' };

  it('answers 404 for unknown or odd ids and 409 for messages not given up or erased, changing nothing', async () => {
    const missing = { status: 404, body: { error: 'not_found', error_description: 'No message with this id.' } };
    for (const id of [randomUUID(), 'x', '%00', encodeURIComponent("' OR 1=1 --")]) expect(await api('POST', `/outbox/${id}/retry`, writer), id).toEqual(missing);
    const waiting = await seed('still-waiting@example.com', { nextAttemptAt: at(60 * MINUTE) });
    const skipped = await seed('skipped2@example.com', { status: 'skipped', text: '' });
    for (const id of [waiting, skipped]) expect(await api('POST', `/outbox/${id}/retry`, writer)).toEqual({ status: 409, body: notWaiting });
    const erased = await failedAt(-2 * MINUTE, 'erased2@example.com', { subject: null, text: '', html: null });
    // Content still there but older than a day: the sweep has not run yet, the retry refuses anyway.
    const stale = await failedAt(-25 * 60 * MINUTE, 'stale@example.com');
    const gone = {
      status: 409,
      body: { error: 'conflict', error_description: 'This message gave up more than 24 hours ago and its content was erased; ask the user to request a new one.' },
    };
    for (const id of [erased, stale]) expect(await api('POST', `/outbox/${id}/retry`, writer)).toEqual(gone);
    const rows = await db().prisma.outboxMessage.findMany({ where: { id: { in: [waiting, skipped, erased, stale] } }, orderBy: { recipient: 'asc' } });
    expect(rows.map((r) => [r.recipient, r.status, r.attempts])).toEqual([
      ['erased2@example.com', 'failed', 8],
      ['skipped2@example.com', 'skipped', 0],
      ['stale@example.com', 'failed', 8],
      ['still-waiting@example.com', 'pending', 0],
    ]);
    expect(await db().prisma.auditEvent.count({ where: { type: 'outbox.retried', identifier: { in: [waiting, skipped, erased, stale] } } })).toBe(0);
    await db().prisma.outboxMessage.deleteMany({ where: { id: waiting } });
  });

  it('needs the area’s scopes: outbox:read cannot retry, another area cannot read, no token gets nothing', async () => {
    const target = await failedAt(-MINUTE, 'scoped@example.com');
    const lacks = (scope: string) => ({ status: 403, body: { error: 'insufficient_scope', error_description: `The access token lacks the scope ${scope} (or admin).` } });
    expect(await api('POST', `/outbox/${target}/retry`, reader)).toEqual(lacks('outbox:write'));
    const keysOnly = await tokenOf(t, 'keys:read keys:write');
    expect(await api('GET', '/outbox', keysOnly)).toEqual(lacks('outbox:read'));
    expect(await api('POST', `/outbox/${target}/retry`, keysOnly)).toEqual(lacks('outbox:write'));
    expect((await api('GET', '/outbox', null)).status).toBe(401);
    expect((await db().prisma.outboxMessage.findUniqueOrThrow({ where: { id: target } })).status).toBe('failed');
    // admin covers every area.
    expect((await api('GET', '/outbox?state=failed&limit=1', await tokenOf(t, 'admin'))).status).toBe(200);
  });
});
