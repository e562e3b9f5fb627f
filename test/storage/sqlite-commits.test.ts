// Group commit on SQLite (src/storage/sqlite-commits.ts): the transactions queued in one turn of the
// event loop commit together, each still all or nothing for its own caller, and no caller hears
// "done" before the COMMIT. A second connection to the same file plays another process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitGroups, MAX_GROUP } from '../../src/storage/sqlite-commits.js';
import { ConnectionTurns } from '../../src/storage/sqlite-connection.js';

const dir = mkdtempSync(join(tmpdir(), 'sesame-commits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('group commit on SQLite', () => {
  let database: Database.Database;
  let other: Database.Database;
  let turns: ConnectionTurns;
  let groups: CommitGroups;
  let file = 0;

  beforeEach(() => {
    const path = join(dir, `g${file++}.db`);
    database = new Database(path);
    database.pragma('journal_mode = WAL');
    database.exec('CREATE TABLE "t" ("v" INTEGER PRIMARY KEY)');
    other = new Database(path);
    turns = new ConnectionTurns();
    groups = new CommitGroups(database, turns);
  });
  afterEach(() => {
    database.close();
    other.close();
  });

  const insert = (v: number) => database.prepare('INSERT INTO "t" ("v") VALUES (?)').run(v);
  const seenBy = (connection: Database.Database) => (connection.prepare('SELECT "v" FROM "t" ORDER BY "v"').all() as { v: number }[]).map((r) => r.v);

  it('commits the transactions queued together in one: the last sees the others uncommitted, another connection sees them after', async () => {
    const views: { own: number[]; other: number[] }[] = [];
    const done = [1, 2, 3].map((v) =>
      groups.run(() => {
        insert(v);
        views.push({ own: seenBy(database), other: seenBy(other) });
        return v * 10;
      }),
    );
    expect(await Promise.all(done)).toEqual([10, 20, 30]);
    expect(views).toEqual([
      { own: [1], other: [] },
      { own: [1, 2], other: [] },
      { own: [1, 2, 3], other: [] },
    ]);
    expect([seenBy(other), database.inTransaction]).toEqual([[1, 2, 3], false]);
  });

  it('undoes a transaction that throws alone: its caller gets the error, the others commit', async () => {
    const results = await Promise.allSettled([
      groups.run(() => insert(1)),
      groups.run(() => {
        insert(2);
        insert(1); // a duplicate key: the whole of this transaction goes, 2 included
      }),
      groups.run(() => insert(3)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE constraint failed/);
    expect(seenBy(other)).toEqual([1, 3]);
  });

  it('rolls back a transaction alone in its turn that throws, and rejects it', async () => {
    const alone = groups.run(() => {
      insert(7);
      throw new Error('changed my mind');
    });
    await expect(alone).rejects.toThrow('changed my mind');
    expect([seenBy(other), database.inTransaction]).toEqual([[], false]);
  });

  it('fails every transaction of a group that cannot take the write lock, and keeps none of their writes', async () => {
    database.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE'); // another process writing
    const results = await Promise.allSettled([groups.run(() => insert(1)), groups.run(() => insert(2))]);
    other.exec('COMMIT');
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'fulfilled'))).toEqual([
      expect.stringMatching(/database is locked/),
      expect.stringMatching(/database is locked/),
    ]);
    expect([seenBy(other), database.inTransaction]).toEqual([[], false]);
  });

  it('waits for the transaction holding the connection, and commits after it', async () => {
    await turns.acquire(); // a Prisma transaction open on the connection
    let ran = false;
    const queued = groups.run(() => {
      ran = true;
      insert(1);
    });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect([ran, turns.waiting]).toEqual([false, 1]);
    turns.release();
    await queued;
    expect(seenBy(other)).toEqual([1]);
  });

  it(`commits at most ${MAX_GROUP} together; the rest commit next, in order`, async () => {
    const committedBefore: number[] = [];
    const done = Array.from({ length: MAX_GROUP + 6 }, (_, i) =>
      groups.run(() => {
        committedBefore.push(seenBy(other).length);
        insert(i);
      }),
    );
    await Promise.all(done);
    expect(committedBefore).toEqual([...Array<number>(MAX_GROUP).fill(0), ...Array<number>(6).fill(MAX_GROUP)]);
    expect(seenBy(other)).toHaveLength(MAX_GROUP + 6);
  });
});
