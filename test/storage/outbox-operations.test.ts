// Contract of the operators' view of the outbox (list with a cursor, requeue a given-up message), on
// SQLite and PostgreSQL: the listing never reads the content, the cursor walks without gaps or
// duplicates across equal creation times, and of many parallel requeues from two connections exactly
// one moves the message, which the worker then claims once.
import { beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/storage/db.js';
import { claimDueMessages, enqueueMessage, markFailed } from '../../src/storage/outbox.js';
import { decodeCursor, listOutbox, requeueFailedMessage } from '../../src/storage/outbox-operations.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

describe.each(ENGINES)('outbox operations on %s', (engine) => {
  let db: Db;
  let url: string;
  withMigratedDb(engine, (opened, openedUrl) => {
    db = opened;
    url = openedUrl;
  });
  beforeEach(async () => {
    await db.prisma.outboxMessage.deleteMany();
  });

  const givenUp = async (n: number) => {
    const id = await enqueueMessage(db, { channel: 'email', recipient: `user${n}@example.com`, subject: `Code ${n}`, text: `code ${n}` });
    await markFailed(db, id, 'bounced', null);
    return id;
  };

  it('walks given-up messages a page at a time, newest first, ties broken by id, without gaps or duplicates', async () => {
    const ids = await Promise.all(Array.from({ length: 7 }, (_, n) => givenUp(n)));
    // Four share one creation time: only the id orders them.
    const same = new Date(Date.now() - 60_000);
    await db.prisma.outboxMessage.updateMany({ where: { id: { in: ids.slice(0, 4) } }, data: { createdAt: same } });
    const seen: string[] = [];
    let after: { createdAt: Date; id: string } | undefined;
    for (let page = 0; page < 10; page++) {
      const { entries, next } = await listOutbox(db, { states: ['failed'], after, limit: 2 });
      seen.push(...entries.map((e) => e.id));
      expect(entries.every((e) => Object.keys(e).sort().join() === 'attempts,channel,connectionId,createdAt,id,lastError,nextAttemptAt,recipient,retryable,state')).toBe(true);
      if (!next) break;
      after = decodeCursor(next)!;
    }
    const expected = (await db.prisma.outboxMessage.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], select: { id: true } })).map((r) => r.id);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(7);
  });

  it('requeues a given-up message once however many requeues race from two connections; the worker then claims it once', async () => {
    const id = await givenUp(1);
    const other = openDb(url);
    try {
      const moved = await Promise.all(Array.from({ length: 10 }, (_, i) => requeueFailedMessage(i % 2 ? other : db, id)));
      expect(moved.filter(Boolean)).toHaveLength(1);
    } finally {
      await other.close();
    }
    expect(await db.prisma.outboxMessage.findUniqueOrThrow({ where: { id } })).toEqual(
      expect.objectContaining({ status: 'pending', attempts: 0, lockedUntil: null, text: 'code 1', subject: 'Code 1' }),
    );
    const soon = new Date(Date.now() + 1000);
    expect((await claimDueMessages(db, 10, 60, soon)).map((m) => [m.id, m.text])).toEqual([[id, 'code 1']]);
    expect(await claimDueMessages(db, 10, 60, soon)).toEqual([]);
    // Pending now: a further requeue changes nothing.
    expect(await requeueFailedMessage(db, id)).toBe(false);
  });

  it('does not requeue a message whose content was erased, or one older than a day', async () => {
    const erased = await givenUp(1);
    await db.prisma.outboxMessage.update({ where: { id: erased }, data: { text: '', subject: null } });
    const old = await givenUp(2);
    await db.prisma.outboxMessage.update({ where: { id: old }, data: { createdAt: new Date(Date.now() - 86_400_000 - 1000) } });
    expect([await requeueFailedMessage(db, erased), await requeueFailedMessage(db, old)]).toEqual([false, false]);
    const { entries } = await listOutbox(db, { states: ['failed'], limit: 10 });
    expect(entries.map((e) => [e.id, e.retryable])).toEqual([
      [erased, false],
      [old, false],
    ]);
  });
});
