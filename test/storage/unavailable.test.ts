// An unreachable database surfaces as StorageUnavailable from both Prisma and the hand-written
// statements, with the cause named and no HTTP in it (the layers above answer it as a 503; see
// test/faults/); other failures pass unchanged.
import { describe, expect, it } from 'vitest';
import { openDb, ping } from '../../src/storage/db.js';
import { StorageUnavailable, storageUnavailable } from '../../src/storage/unavailable.js';
import { insertClient } from '../../src/storage/clients.js';
import { sqlStatement } from '../../src/storage/sql.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';
import { freePort } from '../helpers/net.js';

describe('an unreachable PostgreSQL', () => {
  it('fails Prisma calls, hand-written statements and the readiness ping as StorageUnavailable', async () => {
    const db = openDb(`postgresql://postgres@127.0.0.1:${await freePort()}/test`);
    try {
      const viaPrisma = await db.prisma.user.findFirst().catch((err: unknown) => err);
      const viaSql = await db.sql.one(sqlStatement('SELECT 1'), []).catch((err: unknown) => err);
      for (const err of [viaPrisma, viaSql]) {
        expect(err).toBeInstanceOf(StorageUnavailable);
        const { reason, message } = err as StorageUnavailable;
        expect(reason).toMatch(/^database unreachable \((P1001|ECONNREFUSED)\)$/);
        expect(message).toBe(`storage unavailable: ${reason}`);
        expect(Object.keys(err as object).filter((key) => ['status', 'statusCode', 'expose', 'error_description'].includes(key))).toEqual([]);
      }
      expect(await ping(db)).toBe(false);
    } finally {
      await db.close();
    }
  });
});

describe.each(ENGINES)('other storage failures on %s', (engine) => {
  let db: ReturnType<typeof openDb>;
  withMigratedDb(engine, (opened) => (db = opened));

  it('pass unchanged: a duplicate key is still a duplicate, a bad statement still a bad statement', async () => {
    expect(await insertClient(db, 'dup', { client_id: 'dup' })).toBe(true);
    expect(await insertClient(db, 'dup', { client_id: 'dup' })).toBe(false);
    const err = await db.sql.one(sqlStatement('SELECT "nope" FROM "Client"'), []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(StorageUnavailable);
    expect(storageUnavailable(err)).toBeUndefined();
  });
});

describe('storageUnavailable', () => {
  it('names SQLite disk and lock failures, whether raw or wrapped by Prisma', () => {
    const raw = (code: string) => Object.assign(new Error(code), { code });
    const wrapped = (originalCode: string) =>
      Object.assign(new Error('Invalid invocation'), { code: 'P2010', meta: { driverAdapterError: { name: 'DriverAdapterError', cause: { originalCode, kind: 'sqlite' } } } });
    expect(storageUnavailable(raw('SQLITE_FULL'))?.reason).toBe('disk full (SQLITE_FULL)');
    expect(storageUnavailable(wrapped('SQLITE_READONLY'))?.reason).toBe('database read-only (SQLITE_READONLY)');
    expect(storageUnavailable(raw('SQLITE_IOERR_WRITE'))?.reason).toBe('disk I/O error (SQLITE_IOERR_WRITE)');
    expect(storageUnavailable(wrapped('SQLITE_BUSY'))?.reason).toBe('database locked too long (SQLITE_BUSY)');
    expect(storageUnavailable(raw('SQLITE_CONSTRAINT_UNIQUE'))).toBeUndefined();
    expect(storageUnavailable(new Error('Connection terminated unexpectedly'))?.reason).toBe('database unreachable (Connection terminated unexpectedly)');
    expect(storageUnavailable(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))?.reason).toBe('database unreachable (57P01)');
  });
});
