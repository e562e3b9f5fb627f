// SQLite transactions that read and then write (storage/sql.ts `atomically`: the send and check
// limits' chains) beside another process's writes, as with `serve --workers 2`. Begun deferred, such
// a transaction read on a snapshot, and its first write then failed at once with SQLITE_BUSY when
// another connection had committed since (no busy wait helps: the snapshot is stale): the bench's
// sign-ins on SQLite with two workers answered 503. Begun IMMEDIATE, it waits its turn to write.
// The same for Prisma's interactive transactions, whose adapter begins with a bare BEGIN. The other
// process is a worker thread with its own connection, writing without pause.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { FIND_PAYLOAD } from '../../src/storage/oidc-adapter.js';
import { UPSERT_PAYLOAD } from '../../src/storage/payload-writes.js';
import { sqlitePath } from '../../src/storage/db.js';
import { withMigratedDb } from '../helpers/databases.js';

const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('busy_timeout = 10000');
const upsert = db.prepare('INSERT INTO "OidcPayload" ("model", "id", "payload") VALUES (?, ?, ?) ON CONFLICT ("model", "id") DO UPDATE SET "payload" = excluded."payload"');
let stop = false;
parentPort.on('message', () => { stop = true; });
let n = 0;
(function write() {
  for (let i = 0; i < 20; i++) upsert.run('Session', 'other-' + (n++ % 50), String(n));
  if (n === 200) parentPort.postMessage('writing');
  if (stop) { db.close(); parentPort.postMessage('done'); } else setImmediate(write);
})();
`;

describe('SQLite read-then-write transactions beside another writer', () => {
  let db: Db;
  let url: string;
  withMigratedDb('sqlite', (opened, databaseUrl) => {
    db = opened;
    url = databaseUrl;
  });

  it('never fail with SQLITE_BUSY: each waits for the other writer', async () => {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const writer = new Worker(WRITER, { eval: true, workerData: { driver, file: sqlitePath(url) } });
    const messages: string[] = [];
    const heard = (what: string) => new Promise<void>((resolve) => writer.on('message', (m: string) => (messages.push(m), m === what && resolve())));
    const done = heard('done');
    await heard('writing');
    const failures: string[] = [];
    for (let i = 0; i < 300; i++) {
      await db.sql.atomically!([FIND_PAYLOAD, UPSERT_PAYLOAD], (sql) => {
        const seen = sql.one(FIND_PAYLOAD, ['Session', 'mine']) as { payload: string } | undefined;
        sql.run(UPSERT_PAYLOAD, ['Session', 'mine', String(Number(seen?.payload ?? 0) + 1), null, null, null, null, null]);
      }).catch((err: unknown) => failures.push(String(err)));
      // Let the writer commit between two of ours.
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Prisma's interactive transactions too.
    for (let i = 0; i < 100; i++) {
      await db.prisma
        .$transaction(async (tx) => {
          const seen = await tx.oidcPayload.findUnique({ where: { model_id: { model: 'Session', id: 'prisma' } } });
          const payload = String(Number(seen?.payload ?? 0) + 1);
          await tx.oidcPayload.upsert({ where: { model_id: { model: 'Session', id: 'prisma' } }, create: { model: 'Session', id: 'prisma', payload }, update: { payload } });
        })
        .catch((err: unknown) => failures.push(String(err)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    writer.postMessage('stop');
    await done;
    expect(failures).toEqual([]);
    expect(await db.sql.one(FIND_PAYLOAD, ['Session', 'mine'])).toMatchObject({ payload: '300' });
    expect(await db.sql.one(FIND_PAYLOAD, ['Session', 'prisma'])).toMatchObject({ payload: '100' });
  }, 60_000);
});
