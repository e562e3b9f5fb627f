// The seam into @prisma/adapter-better-sqlite3 (src/storage/sqlite-connection.ts): the hand-written
// statements must run on the connection Prisma uses (fails on an upgrade that moves the field), and
// take turns on it with Prisma's transactions.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { insertCode } from '../../src/storage/codes.js';
import { runChain, SEND_CHAIN } from '../../src/storage/counter-chains.js';
import type { Db } from '../../src/storage/db.js';
import { PrismaClient } from '../../src/storage/generated/sqlite/client.js';
import { enqueueMessage, outboxRow } from '../../src/storage/outbox.js';
import { adapterConnection, SqliteAdapter } from '../../src/storage/sqlite-connection.js';
import { findUserById } from '../../src/storage/users.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

type Tx = Parameters<Parameters<Db['prisma']['$transaction']>[0]>[0];

const dir = mkdtempSync(join(tmpdir(), 'sesame-seam-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the SQLite adapter seam', () => {
  it('finds the better-sqlite3 connection of the adapter as published', async () => {
    const opened = await new PrismaBetterSqlite3({ url: `file:${join(dir, 'plain.db')}` }).connect();
    try {
      expect(adapterConnection(opened)).toBeInstanceOf(Database);
    } finally {
      await opened.dispose();
    }
  });

  it('hands over the very connection Prisma queries on', async () => {
    const adapter = new SqliteAdapter({ url: `file:${join(dir, 'shared.db')}` });
    const prisma = new PrismaClient({ adapter });
    try {
      await prisma.$connect();
      // A temporary table exists only on the connection that made it.
      adapter.connection!.exec('CREATE TEMP TABLE "seam" ("v" TEXT); INSERT INTO "seam" VALUES (\'same\')');
      expect(await prisma.$queryRawUnsafe('SELECT "v" FROM "seam"')).toEqual([{ v: 'same' }]);
      expect(Number(adapter.connection!.pragma('synchronous', { simple: true }))).toBe(1); // NORMAL
    } finally {
      await prisma.$disconnect();
    }
  });

  it('ends a transaction the engine gives up on without sending ROLLBACK (its COMMIT failed)', async () => {
    const adapter = new SqliteAdapter({ url: `file:${join(dir, 'failed-commit.db')}` });
    const opened = await adapter.connect();
    try {
      await opened.executeScript('CREATE TABLE "t" ("v" TEXT)');
      const tx = await opened.startTransaction();
      await tx.executeRaw({ sql: 'INSERT INTO "t" VALUES (\'undone\')', args: [], argTypes: [] });
      // What the engine does when COMMIT fails: unlock through `rollback`, no ROLLBACK statement.
      await tx.rollback();
      expect([adapter.connection!.inTransaction, adapter.connection!.prepare('SELECT count(*) AS n FROM "t"').get()]).toEqual([false, { n: 0n }]);
    } finally {
      await opened.dispose();
    }
  });

  it('refuses an adapter without the field instead of guessing', () => {
    expect(() => adapterConnection({} as Parameters<typeof adapterConnection>[0])).toThrow(/no longer exposes its connection/);
  });
});

// On SQLite one connection serves Prisma's transactions and everything else: work another request
// starts while a transaction is open must neither run inside it (undone by its rollback) nor see
// its uncommitted rows. PostgreSQL gives each its own connection; the same attacks hold there.
describe.each(ENGINES)('work of other requests while a Prisma transaction is open, on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => (db = opened));
  beforeEach(async () => {
    await db.prisma.outboxMessage.deleteMany();
    await db.prisma.oneTimeCode.deleteMany();
  });

  const rollback = new Error('rolled back on purpose');
  /** Transactions the test has opened and not yet ended: an assertion that fails must not leave one open for the next test. */
  let ends: (() => void)[] = [];
  afterEach(() => {
    ends.forEach((end) => end());
    ends = [];
  });
  /** An interactive transaction that does `work`, then awaits the test's go-ahead and throws. */
  const openTransaction = async (work: (tx: Tx) => Promise<unknown>) => {
    let opened!: () => void;
    let end!: () => void;
    const isOpen = new Promise<void>((resolve) => (opened = resolve));
    const ending = new Promise<void>((resolve) => ends.push((end = resolve)));
    const done = db.prisma.$transaction(
      async (tx) => {
        await work(tx);
        opened();
        await ending;
        throw rollback;
      },
      // Generous: the transaction stays open while the test looks, on a loaded machine.
      { maxWait: 60_000, timeout: 60_000 },
    );
    await isOpen;
    return { rollBack: () => (end(), expect(done).rejects.toBe(rollback)) };
  };
  /**
   * How far `work` (another request's) gets while the transaction stays open. On PostgreSQL it has
   * its own connection and must finish ('done'). On SQLite it must wait for its turn ('waiting'):
   * every callback already runnable runs, for a hundred turns of the event loop, and it must not
   * have settled by then (without the turns it settles within a few).
   */
  const whileOpen = async (work: Promise<unknown>) => {
    if (engine === 'postgresql') return work.then(() => 'done');
    let settled = false;
    void work.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let turn = 0; turn < 100 && !settled; turn++) await new Promise((resolve) => setImmediate(resolve));
    return settled ? 'done' : 'waiting';
  };
  const expected = engine === 'postgresql' ? 'done' : 'waiting';
  const recipients = async () => (await db.prisma.outboxMessage.findMany({ select: { recipient: true } })).map((m) => m.recipient);
  const message = (recipient: string) => ({ channel: 'email' as const, recipient, subject: 'Hello', text: 'Hello' });

  it('a prepared write of another request survives the rollback', async () => {
    const tx = await openTransaction((t) => t.outboxMessage.create({ data: outboxRow(message('inside@example.com')) }));
    const write = enqueueMessage(db, message('outside@example.com'));
    const meanwhile = await whileOpen(write);
    await tx.rollBack();
    await write;
    expect([meanwhile, await recipients()]).toEqual([expected, ['outside@example.com']]);
  });

  it('Prisma’s own write of another request survives the rollback', async () => {
    const tx = await openTransaction((t) => t.outboxMessage.create({ data: outboxRow(message('inside@example.com')) }));
    const write = db.prisma.outboxMessage.create({ data: outboxRow(message('outside@example.com')) });
    const meanwhile = await whileOpen(write);
    await tx.rollBack();
    await write;
    expect([meanwhile, await recipients()]).toEqual([expected, ['outside@example.com']]);
  });

  it('a prepared batch of another request survives the rollback', async () => {
    const tx = await openTransaction((t) => t.outboxMessage.create({ data: outboxRow(message('inside@example.com')) }));
    const code = { id: randomUUID(), flowKey: 'flow', identifier: 'outside@example.com', codeHash: 'hash', keyId: 'k', expiresAt: new Date(Date.now() + 600_000) };
    const write = insertCode(db, code);
    const meanwhile = await whileOpen(write);
    await tx.rollBack();
    await write;
    const codes = await db.prisma.oneTimeCode.findMany({ select: { id: true, identifier: true, replacedAt: true } });
    expect([meanwhile, codes, await recipients()]).toEqual([expected, [{ id: code.id, identifier: 'outside@example.com', replacedAt: null }], []]);
  });

  it('the send limits of another request (one transaction on SQLite) survive the rollback', async () => {
    const tx = await openTransaction((t) => t.outboxMessage.create({ data: outboxRow(message('inside@example.com')) }));
    const key = `send-ip:${randomUUID()}`;
    // The chain's first step only (the IP's count); the others are skipped.
    const steps = SEND_CHAIN.kinds.map((kind, i) => (i === 0 ? { kind, key, window: 3600, max: 10 } : { kind, key: null, window: 0 }));
    const chain = runChain(db, SEND_CHAIN, steps);
    const meanwhile = await whileOpen(chain);
    await tx.rollBack();
    expect((await chain).steps).toEqual([{ kind: 'count', count: 1, windowStart: expect.any(Date) }, undefined, undefined, undefined, undefined]);
    const counter = await db.prisma.counter.findUniqueOrThrow({ where: { key }, select: { count: true } });
    expect([meanwhile, counter, await recipients()]).toEqual([expected, { count: 1 }, []]);
  });

  it('a prepared read of another request does not see the transaction’s uncommitted rows', async () => {
    const id = randomUUID();
    const tx = await openTransaction((t) => t.user.create({ data: { id, email: `${id}@example.com` } }));
    const read = findUserById(db, id);
    const meanwhile = await whileOpen(read);
    await tx.rollBack();
    expect([meanwhile, await read]).toEqual([expected, null]);
  });

  it('a statement waiting for one transaction runs before the next one opens', async () => {
    const order: string[] = [];
    const first = await openTransaction((t) => t.outboxMessage.create({ data: outboxRow(message('first@example.com')) }));
    const write = enqueueMessage(db, message('outside@example.com')).then(() => order.push('write'));
    const meanwhile = await whileOpen(write);
    // Asked for while the write waits: it must not open in between and take the write in.
    const second = openTransaction(async (t) => {
      order.push('second opened');
      await t.outboxMessage.create({ data: outboxRow(message('second@example.com')) });
    });
    await first.rollBack();
    await (await second).rollBack();
    await write;
    expect([meanwhile, order, await recipients()]).toEqual([expected, ['write', 'second opened'], ['outside@example.com']]);
  });
});
