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

// notify() wakes this process's worker with a call and the other processes on the channel with a
// NOTIFY carrying its origin; its own NOTIFY, coming back, does not wake it a second time.
describe('OutboxWake notices on PostgreSQL', () => {
  it('wakes itself once and the other listeners through the channel, never itself through its own notice', async () => {
    const url = `${POSTGRES_URL}?schema=wake_${randomUUID().slice(0, 8)}`;
    const [sender, other] = [new OutboxWake(createLogger('silent')), new OutboxWake(createLogger('silent'))];
    const woken = { sender: 0, other: 0 };
    sender.subscribe(() => woken.sender++);
    other.subscribe(() => woken.other++);
    sender.listen(url, 'postgresql');
    other.listen(url, 'postgresql');
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    const heard: string[] = [];
    admin.on('notification', (n) => heard.push(`${n.channel} ${n.payload}`));
    try {
      await admin.query(`LISTEN "sesame_outbox_${new URL(url).searchParams.get('schema')}"`);
      // Each counts its (re)connection as a notice: both are listening once woken once.
      await waitFor(() => woken.sender === 1 && woken.other === 1, { what: 'both listening' });
      sender.notify();
      expect(woken.sender).toBe(2);
      await waitFor(() => woken.other === 2, { what: "the other process woken by the sender's notice" });
      // Notices arrive in order: once the sender hears the other's, it has heard (and ignored) its own.
      other.notify();
      expect(woken.other).toBe(3);
      await waitFor(() => woken.sender === 3, { what: "the sender woken by the other's notice" });
      expect(woken).toEqual({ sender: 3, other: 3 });
      await waitFor(() => heard.length === 2, { what: 'both notices seen by a third listener' });
      expect(heard).toEqual([expect.stringMatching(/^sesame_outbox_wake_\w+ [0-9a-f-]{36}$/), expect.stringMatching(/^sesame_outbox_wake_\w+ [0-9a-f-]{36}$/)]);
      expect(heard[0]).not.toBe(heard[1]);
    } finally {
      await admin.end();
      await sender.close();
      await other.close();
    }
  });

  it('sends one NOTIFY at a time: a burst of wakes shares at most one more', async () => {
    const url = `${POSTGRES_URL}?schema=wake_${randomUUID().slice(0, 8)}`;
    const [sender, other] = [new OutboxWake(createLogger('silent')), new OutboxWake(createLogger('silent'))];
    let otherWoken = 0;
    sender.subscribe(() => undefined);
    other.subscribe(() => otherWoken++);
    sender.listen(url, 'postgresql');
    other.listen(url, 'postgresql');
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    const heard: string[] = [];
    admin.on('notification', (n) => heard.push(n.payload ?? ''));
    try {
      await admin.query(`LISTEN "sesame_outbox_${new URL(url).searchParams.get('schema')}"`);
      await waitFor(() => otherWoken === 1, { what: 'the other listening' });
      sender.notify();
      await waitFor(() => heard.length === 1, { what: 'the first notice' });
      for (let i = 0; i < 50; i++) sender.notify();
      // The first of the 50 is sent at once; the 49 asked for while it is in flight share one more.
      await waitFor(() => heard.length === 3, { what: 'the burst heard' });
      await waitFor(() => otherWoken === 4, { what: 'the other woken by each notice' });
      const channel = `sesame_outbox_${new URL(url).searchParams.get('schema')}`;
      await admin.query('SELECT pg_notify($1, $2)', [channel, 'end']);
      await waitFor(() => heard.at(-1) === 'end', { what: 'the end marker' });
      expect(heard).toEqual([heard[0], heard[0], heard[0], 'end']);
      expect(heard[0]).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await admin.end();
      await sender.close();
      await other.close();
    }
  });
});
