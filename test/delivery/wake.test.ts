// The outbox wake: with the poll ten minutes apart, a code still reaches the SMTP server at once,
// because the request wakes the worker after its commit (src/delivery/wake.ts); a wake during a
// transaction that then rolls back sends nothing. On both engines. (Other instances and
// `sesame worker` woken through PostgreSQL's NOTIFY: wake-notify.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRow } from '../../src/storage/outbox.js';
import { OutboxWake } from '../../src/delivery/wake.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { waitFor } from '../helpers/wait.js';
import { faultFixture, startCode } from '../faults/fixture.js';
import { createLogger } from '../../src/log.js';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { POSTGRES_URL } from '../helpers/databases.js';

/** Far longer than any wait below: a message that arrives came through a wake, not a poll. */
const LONG_POLL = 600_000;
/** Generous for a loaded machine, yet a thirtieth of the poll interval. */
const PROMPTLY = 20_000;

describe.each(ENGINES)('outbox wake on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, { ...faultFixture, delivery: { pollInterval: LONG_POLL } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('hands a code asked for through /passwordless/start to the SMTP server long before the next poll', async () => {
    for (const email of ['first@example.com', 'second@example.com', 'third@example.com']) {
      expect(await startCode(t.url, email)).toEqual({ status: 200, body: { _id: expect.any(String), email, email_verified: false }, contentType: expect.stringContaining('json') });
      const mail = await t.mail.next(email, PROMPTLY);
      expect(mail.to).toEqual([email]);
      expect(mail.subject).toMatch(/\b\d{6}\b/);
    }
  });

  it('sends each of a burst of codes exactly once (wakes during a pass coalesce into one more pass)', async () => {
    const emails = Array.from({ length: 12 }, (_, i) => `burst${i}@example.com`);
    const answers = await Promise.all(emails.map((email) => startCode(t.url, email)));
    expect(answers.map((a) => a.status)).toEqual(emails.map(() => 200));
    await Promise.all(emails.map((email) => t.mail.next(email, PROMPTLY)));
    // The outbox agrees (the worker records a send once the server has acknowledged it): each
    // sent on its first attempt.
    const sent = () => t.sesame.services.db.prisma.outboxMessage.findMany({ where: { recipient: { in: emails }, status: 'sent' } });
    const rows = await waitFor(async () => ((await sent()).length === emails.length ? sent() : null), { what: 'every burst message recorded as sent' });
    expect(rows.map((r) => [r.recipient, r.attempts]).sort()).toEqual(emails.map((e) => [e, 1]).sort());
    for (const email of emails) expect(t.mail.to(email)).toHaveLength(1);
  });

  it('sends nothing for a message whose transaction rolled back, even when woken before the rollback', async () => {
    const { db } = t.sesame.services;
    const rolledBack = 'rolled-back@example.com';
    const committed = 'committed@example.com';
    const message = (recipient: string) => outboxRow({ channel: 'email', recipient, subject: 'Hello', text: 'Hello' });
    const rollback = new Error('rolled back on purpose');
    let early: Promise<number> | undefined;
    await expect(
      db.prisma.$transaction(async (tx) => {
        await tx.outboxMessage.create({ data: message(rolledBack) });
        // The mistake wake.ts warns about: a wake before the commit, and a pass started while the
        // transaction is still open (on SQLite its claim shares the connection, see claimDueMessages).
        t.sesame.services.wakeWorker();
        early = t.sesame.worker.runOnce();
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await early).toBe(0);
    // A message committed afterwards, and woken for properly, goes out; by then any pass the early
    // wake started is long over, so had the rolled-back row been sent, the sink would hold it.
    await db.prisma.outboxMessage.create({ data: message(committed) });
    t.sesame.services.wakeWorker();
    await t.mail.next(committed, PROMPTLY);
    await waitFor(async () => (await db.prisma.outboxMessage.findFirst({ where: { recipient: committed } }))?.status === 'sent', {
      what: 'the committed message recorded as sent',
    });
    expect(t.mail.to(rolledBack)).toEqual([]);
    expect(await db.prisma.outboxMessage.count({ where: { recipient: rolledBack } })).toBe(0);
  });
});

describe('OutboxWake', () => {
  it('calls each subscriber per notice, stops calling one removed, and on SQLite opens no channel', async () => {
    const wake = new OutboxWake(createLogger('silent'));
    const calls: string[] = [];
    const remove = wake.subscribe(() => calls.push('a'));
    wake.subscribe(() => calls.push('b'));
    wake.listen('file:/nonexistent/never-opened.db', 'sqlite');
    wake.notify();
    remove();
    wake.notify();
    expect(calls).toEqual(['a', 'b', 'b']);
    await wake.close();
    wake.notify();
    expect(calls).toEqual(['a', 'b', 'b']);
  });
});

// A send's own statement carries the NOTIFY (storage/codes.ts SEND_CODE, with notice()): the other
// processes on the channel are woken by it, the sending one is not (it woke its worker itself).
describe('OutboxWake notices on PostgreSQL', () => {
  it('wakes the other listeners on a notice sent with its origin, and never itself', async () => {
    const url = `${POSTGRES_URL}?schema=wake_${randomUUID().slice(0, 8)}`;
    const [sender, other] = [new OutboxWake(createLogger('silent')), new OutboxWake(createLogger('silent'))];
    const woken = { sender: 0, other: 0 };
    sender.subscribe(() => woken.sender++);
    other.subscribe(() => woken.other++);
    expect(sender.notice()).toBeUndefined();
    sender.listen(url, 'postgresql');
    other.listen(url, 'postgresql');
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      // Each counts its (re)connection as a notice: both are listening once woken once.
      await waitFor(() => woken.sender === 1 && woken.other === 1, { what: 'both listening' });
      const notice = sender.notice()!;
      expect(notice).toEqual({ channel: `sesame_outbox_${new URL(url).searchParams.get('schema')}`, origin: expect.any(String) });
      await admin.query('SELECT pg_notify($1, $2)', [notice.channel, notice.origin]);
      await waitFor(() => woken.other === 2, { what: "the other process woken by the sender's notice" });
      // Notices arrive in order: once the sender hears the other's, it has heard (and ignored) its own.
      await admin.query('SELECT pg_notify($1, $2)', [notice.channel, other.notice()!.origin]);
      await waitFor(() => woken.sender === 2, { what: "the sender woken by the other's notice" });
      expect(woken).toEqual({ sender: 2, other: 2 });
    } finally {
      await admin.end();
      await sender.close();
      await other.close();
    }
  });
});
