// Applies the hand-written SQL migrations in prisma/migrations/<provider>/ at startup, keeping
// Prisma's `_prisma_migrations` table so `prisma migrate status` reads the same history.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { numberPlaceholders } from './placeholders.js';

export type Provider = 'sqlite' | 'postgresql';
type Row = Record<string, unknown>;

interface Conn {
  setup: string[];
  begin: string;
  now(): unknown;
  query(sql: string, params?: unknown[]): Promise<Row[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

// Prisma Migrate's own lock key, so this migrator and `prisma migrate deploy` also exclude each other.
const ADVISORY_LOCK_KEY = 72707369;

// Verbatim the tables Prisma's schema engine creates, apart from IF NOT EXISTS.
const MIGRATIONS_TABLE: Record<Provider, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
);`,
  postgresql: `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`,
};

export function providerOf(databaseUrl: string): Provider {
  if (databaseUrl.startsWith('file:')) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return 'postgresql';
  // Only the scheme is echoed: the rest of the URL may hold a password.
  throw new Error(`DATABASE_URL must start with file:, postgres:// or postgresql:// (got "${databaseUrl.split(':')[0]}:…")`);
}

function migrationsDir(provider: Provider): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // Walk upward: this file runs from src/storage under tsx and from dist/src/storage once built.
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'prisma', 'migrations'))) return join(dir, 'prisma', 'migrations', provider);
    if (dirname(dir) === dir) throw new Error(`No prisma/migrations directory found above ${here}`);
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// Like Prisma, accept either line ending so a git checkout with autocrlf is not "modified".
const matchesChecksum = (script: string, checksum: string) => [script, script.replace(/\r\n/g, '\n'), script.replace(/\r?\n/g, '\r\n')].some((s) => sha256(s) === checksum);

function openSqlite(databaseUrl: string): Conn {
  const file = resolve(process.cwd(), databaseUrl.slice('file:'.length).split('?')[0]!);
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  return {
    setup: ['PRAGMA journal_mode = WAL', 'PRAGMA busy_timeout = 5000'],
    // IMMEDIATE takes the write lock up front, so a second process waits instead of failing mid-way.
    begin: 'BEGIN IMMEDIATE',
    // Prisma's engine stores SQLite timestamps as epoch milliseconds.
    now: () => Date.now(),
    query: async (sql, params = []) => {
      const stmt = db.prepare(sql);
      return stmt.reader ? (stmt.all(...params) as Row[]) : (stmt.run(...params), []);
    },
    exec: async (sql) => void db.exec(sql),
    close: async () => void db.close(),
  };
}

async function openPostgres(databaseUrl: string): Promise<Conn> {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get('schema');
  url.searchParams.delete('schema'); // Prisma's parameter, unknown to libpq
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  const ident = `"${(schema ?? '').replace(/"/g, '""')}"`;
  return {
    // Session-level lock, released when the connection closes; taken before CREATE SCHEMA, which races too.
    // Like Prisma, ?schema= selects (and creates) the schema everything lands in.
    setup: [`SELECT pg_advisory_lock(${ADVISORY_LOCK_KEY})`, ...(schema ? [`CREATE SCHEMA IF NOT EXISTS ${ident}`, `SET search_path TO ${ident}`] : [])],
    begin: 'BEGIN',
    now: () => new Date(),
    query: async (sql, params = []) => (await client.query(numberPlaceholders(sql), params)).rows as Row[],
    exec: async (sql) => void (await client.query(sql)),
    close: () => client.end(),
  };
}

export async function migrate(databaseUrl: string, log: (msg: string) => void = () => {}): Promise<{ applied: string[] }> {
  const provider = providerOf(databaseUrl);
  const dir = migrationsDir(provider);
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort();
  const script = (name: string) => readFileSync(join(dir, name, 'migration.sql'), 'utf8');

  const conn = provider === 'sqlite' ? openSqlite(databaseUrl) : await openPostgres(databaseUrl);
  try {
    for (const sql of conn.setup) await conn.exec(sql);
    await conn.exec(MIGRATIONS_TABLE[provider]);
    const done = new Set<string>();
    const rows = await conn.query('SELECT migration_name, checksum, finished_at FROM _prisma_migrations WHERE rolled_back_at IS NULL');
    for (const row of rows) {
      const name = String(row.migration_name);
      if (!names.includes(name)) throw new Error(`Migration ${name} is applied to the database but missing from ${dir}; is this an older build?`);
      if (row.finished_at == null) throw new Error(`Migration ${name} failed part-way in an earlier run; repair it, then run \`prisma migrate resolve\``);
      if (!matchesChecksum(script(name), String(row.checksum)))
        throw new Error(`Migration ${name} was edited after it was applied (checksum mismatch); restore it and add a new one`);
      done.add(name);
    }

    const applied: string[] = [];
    for (const name of names.filter((n) => !done.has(n))) {
      const sql = script(name);
      await conn.exec(conn.begin);
      try {
        // SQLite has no advisory lock: another process may have applied it since we looked.
        const again = await conn.query('SELECT 1 FROM _prisma_migrations WHERE migration_name = ? AND rolled_back_at IS NULL', [name]);
        if (!again.length) {
          log(`Applying migration ${name}`);
          const startedAt = conn.now();
          await conn.exec(sql);
          await conn.query(
            `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
             VALUES (?, ?, ?, ?, ?, 1)`,
            [randomUUID(), sha256(sql), conn.now(), name, startedAt],
          );
          applied.push(name);
        }
        await conn.exec('COMMIT');
      } catch (err) {
        await conn.exec('ROLLBACK').catch(() => {});
        if (err instanceof Error) err.message = `Migration ${name} failed and was rolled back: ${err.message}`;
        throw err;
      }
    }
    if (!applied.length) log('Database schema is up to date');
    return { applied };
  } finally {
    await conn.close();
  }
}
