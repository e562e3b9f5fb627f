// Contract of the outbox (enqueue, leased claims, delivery outcomes, sweeping), on SQLite and PostgreSQL.
import { beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/storage/db.js';
import { type OutgoingMessage, claimDueMessages, enqueueMessage, markFailed, markSent, sweepOutbox } from '../../src/storage/outbox.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

const message = (n: number, extra: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  channel: 'email',
  recipient: `user${n}@example.com`,
  subject: `Your code ${n}`,
  text: `code ${n}`,
  ...extra,
});
const DAY = 86400_000;

describe.each(ENGINES)('outbox on %s', (engine) => {
  let db: Db;
  // Rows get createdAt/nextAttemptAt from the real clock; claims run a little after that.
  let now: number;
  const later = (ms: number) => new Date(now + ms);
  let url: string;
  withMigratedDb(engine, (opened, openedUrl) => {
    db = opened;
    url = openedUrl;
  });
  beforeEach(async () => {
    await db.prisma.outboxMessage.deleteMany();
    now = Date.now() + 1000;
  });

  const rowOf = (id: string) => db.prisma.outboxMessage.findUniqueOrThrow({ where: { id } });

  it('enqueue stores a pending message due now', async () => {
    const before = Date.now();
    const id = await enqueueMessage(db, message(1, { html: '<p>code 1</p>' }));
    const row = await rowOf(id);
    expect(row).toEqual({
      id,
      channel: 'email',
      connectionId: null,
      recipient: 'user1@example.com',
      subject: 'Your code 1',
      text: 'code 1',
      html: '<p>code 1</p>',
      status: 'pending',
      attempts: 0,
      nextAttemptAt: expect.any(Date),
      lockedUntil: null,
      lastError: null,
      createdAt: expect.any(Date),
      sentAt: null,
    });
    for (const date of [row.nextAttemptAt, row.createdAt]) {
      expect(date.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(date.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    }
    expect((await rowOf(await enqueueMessage(db, message(2)))).html).toBeNull();
  });

  it('claims due messages under a lease that keeps other claimers out until it runs out', async () => {
    const id = await enqueueMessage(db, message(1));
    expect(await claimDueMessages(db, 10, 60, later(0))).toEqual([
      { id, channel: 'email', recipient: 'user1@example.com', subject: 'Your code 1', text: 'code 1', html: undefined, attempts: 0 },
    ]);
    expect((await rowOf(id)).lockedUntil).toEqual(later(60_000));
    expect(await claimDueMessages(db, 10, 60, later(1000))).toEqual([]);
    expect(await claimDueMessages(db, 10, 60, later(59_999))).toEqual([]);
    // The worker died without reporting: its lease ran out and another worker takes over.
    expect((await claimDueMessages(db, 10, 30, later(60_000))).map((m) => m.id)).toEqual([id]);
    expect((await rowOf(id)).lockedUntil).toEqual(later(90_000));
  });

  it('claims at most `limit` messages and nothing that is not yet due', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await enqueueMessage(db, message(i)));
    await db.prisma.outboxMessage.update({ where: { id: ids[2]! }, data: { nextAttemptAt: later(5 * 60_000) } });
    const first = await claimDueMessages(db, 1, 600, later(0));
    const second = await claimDueMessages(db, 5, 600, later(0));
    expect(first).toHaveLength(1);
    expect([...first, ...second].map((m) => m.id).sort()).toEqual([ids[0], ids[1]].sort());
    expect((await claimDueMessages(db, 5, 60, later(5 * 60_000))).map((m) => m.id)).toEqual([ids[2]]);
  });

  it('two parallel claimers over 10 messages claim disjoint sets covering all of them', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await enqueueMessage(db, message(i)));
    const [a, b] = await Promise.all([claimDueMessages(db, 10, 60, later(0)), claimDueMessages(db, 10, 60, later(0))]);
    const aIds = a.map((m) => m.id);
    const bIds = b.map((m) => m.id);
    expect(aIds.filter((id) => bIds.includes(id))).toEqual([]);
    expect([...aIds, ...bIds].sort()).toEqual([...ids].sort());
  });

  it('claimers of two instances (own connections), five each, take 60 messages in small batches exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push(await enqueueMessage(db, message(i)));
    // All 60 due: on a loaded machine the inserts alone can outlast the second `later(0)` allows.
    const due = new Date(Date.now() + 1000);
    const other = openDb(url);
    try {
      const claimer = async (handle: Db) => {
        const mine: string[] = [];
        for (;;) {
          const batch = await claimDueMessages(handle, 4, 60, due);
          if (!batch.length) return mine;
          mine.push(...batch.map((m) => m.id));
        }
      };
      const claimed = (await Promise.all([db, other].flatMap((handle) => Array.from({ length: 5 }, () => claimer(handle))))).flat();
      expect(claimed.length).toBe(60);
      expect([...claimed].sort()).toEqual([...ids].sort());
    } finally {
      await other.close();
    }
  });

  it('markSent erases subject and bodies (they hold the code) unless keepBody', async () => {
    const dropped = await enqueueMessage(db, message(1, { html: '<b>code 1</b>' }));
    const kept = await enqueueMessage(db, message(2, { html: '<b>code 2</b>' }));
    await claimDueMessages(db, 10, 60, later(0));
    await markSent(db, dropped, false, later(1000));
    await markSent(db, kept, true, later(2000));
    expect(await rowOf(dropped)).toEqual(
      expect.objectContaining({
        status: 'sent',
        sentAt: later(1000),
        attempts: 1,
        lockedUntil: null,
        text: '',
        html: null,
        recipient: 'user1@example.com',
        subject: null,
      }),
    );
    expect(await rowOf(kept)).toEqual(
      expect.objectContaining({
        status: 'sent',
        sentAt: later(2000),
        attempts: 1,
        lockedUntil: null,
        subject: 'Your code 2',
        text: 'code 2',
        html: '<b>code 2</b>',
      }),
    );
    expect(await claimDueMessages(db, 10, 60, later(DAY))).toEqual([]);
  });

  it('markFailed with retryAt reschedules; with null gives up; both keep the bodies (an operator may retry a given-up one)', async () => {
    const retried = await enqueueMessage(db, message(1));
    const givenUp = await enqueueMessage(db, message(2));
    await claimDueMessages(db, 10, 60, later(0));
    await markFailed(db, retried, 'connection refused', later(120_000));
    await markFailed(db, givenUp, `550 ${'x'.repeat(600)}`, null);

    expect(await rowOf(retried)).toEqual(
      expect.objectContaining({
        status: 'pending',
        attempts: 1,
        lastError: 'connection refused',
        nextAttemptAt: later(120_000),
        lockedUntil: null,
        subject: 'Your code 1',
        text: 'code 1',
        sentAt: null,
      }),
    );
    const failed = await rowOf(givenUp);
    expect(failed).toEqual(expect.objectContaining({ status: 'failed', attempts: 1, lockedUntil: null, sentAt: null, subject: 'Your code 2', text: 'code 2' }));
    expect(failed.lastError).toBe(`550 ${'x'.repeat(496)}`);

    // Released even though the 60 s lease had not run out, but only once the retry is due.
    expect(await claimDueMessages(db, 10, 60, later(119_999))).toEqual([]);
    expect(await claimDueMessages(db, 10, 60, later(120_000))).toEqual([expect.objectContaining({ id: retried, attempts: 1 })]);
    // The given-up message never comes back; the retried one does once its new lease runs out.
    expect((await claimDueMessages(db, 10, 60, later(30 * DAY))).map((m) => m.id)).toEqual([retried]);
  });

  it('sweepOutbox erases the bodies of given-up messages a day old, and deletes finished messages a week old', async () => {
    const sent = await enqueueMessage(db, message(1));
    const failed = await enqueueMessage(db, message(2));
    const pending = await enqueueMessage(db, message(3));
    const recentSent = await enqueueMessage(db, message(4));
    await markSent(db, sent, false);
    await markFailed(db, failed, 'bounced', null);
    await markSent(db, recentSent, false);
    await db.prisma.outboxMessage.update({ where: { id: recentSent }, data: { createdAt: later(2 * DAY) } });

    expect(await sweepOutbox(db, later(DAY - 2000))).toBe(0);
    expect(await rowOf(failed)).toEqual(expect.objectContaining({ status: 'failed', text: 'code 2', subject: 'Your code 2' }));
    expect(await sweepOutbox(db, later(DAY))).toBe(0);
    expect(await rowOf(failed)).toEqual(expect.objectContaining({ status: 'failed', text: '', subject: null, html: null }));
    // A pending message is never erased, however old.
    expect(await rowOf(pending)).toEqual(expect.objectContaining({ status: 'pending', text: 'code 3' }));
    expect(await sweepOutbox(db, later(6 * DAY))).toBe(0);
    expect(await sweepOutbox(db, later(8 * DAY))).toBe(2);
    const left = await db.prisma.outboxMessage.findMany({ select: { id: true } });
    expect(left.map((r) => r.id).sort()).toEqual([pending, recentSent].sort());
    expect(await sweepOutbox(db, later(8 * DAY))).toBe(0);
    expect(await sweepOutbox(db, later(10 * DAY))).toBe(1);
  });
});
