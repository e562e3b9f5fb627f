// The seam into @prisma/adapter-better-sqlite3 (src/storage/sqlite-connection.ts): the hand-written
// statements must run on the connection Prisma uses. Fails on an upgrade that moves the field.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../src/storage/generated/sqlite/client.js';
import { adapterConnection, SqliteAdapter } from '../../src/storage/sqlite-connection.js';

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

  it('refuses an adapter without the field instead of guessing', () => {
    expect(() => adapterConnection({} as Parameters<typeof adapterConnection>[0])).toThrow(/no longer exposes its connection/);
  });
});
