// Fails when the hand-written SQL migrations disagree with prisma/schema.prisma, on either provider,
// and checks the migrator's bookkeeping (idempotence, refusing edited or unknown migrations).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/storage/migrate.js';
import { numberPlaceholders } from '../../src/storage/placeholders.js';
import { type Catalog, type Provider, diffCatalogs, expectedCatalog, readPostgresCatalog, readSqliteCatalog, schemaFor } from './catalog.js';

const SCHEMA = readFileSync(new URL('../../prisma/schema.prisma', import.meta.url), 'utf8');
const POSTGRES_BASE = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

interface TestDb {
  url: string;
  catalog(): Promise<Catalog>;
  run(sql: string, params?: unknown[]): Promise<void>;
}

interface Harness {
  provider: Provider;
  create(): Promise<TestDb>;
  cleanup(): Promise<void>;
}

function sqliteHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-drift-'));
  let n = 0;
  return {
    provider: 'sqlite',
    async create() {
      const file = join(dir, `db${++n}`, 'sesame.db'); // the parent directory does not exist yet
      return {
        url: `file:${file}`,
        catalog: async () => readSqliteCatalog(file),
        async run(sql, params = []) {
          const db = new Database(file);
          try {
            db.prepare(sql).run(...params);
          } finally {
            db.close();
          }
        },
      };
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresHarness(): Harness {
  const client = new pg.Client({ connectionString: POSTGRES_BASE });
  let connected: Promise<unknown> | undefined;
  const schemas: string[] = [];
  return {
    provider: 'postgresql',
    async create() {
      await (connected ??= client.connect());
      const schema = `drift_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return {
        url: `${POSTGRES_BASE}?schema=${schema}`,
        catalog: () => readPostgresCatalog(client, schema),
        async run(sql, params = []) {
          await client.query(numberPlaceholders(sql.replace(/_prisma_migrations/g, `"${schema}"._prisma_migrations`)), params);
        },
      };
    },
    async cleanup() {
      if (!connected) return;
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    },
  };
}

const INIT = '20261122000000_init';
/** Every migration on disk for a provider, in the order they apply. */
const allMigrations = (provider: string) =>
  readdirSync(new URL(`../../prisma/migrations/${provider}/`, import.meta.url), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();

describe.each([sqliteHarness(), postgresHarness()])('migrations on $provider', (harness) => {
  afterAll(() => harness.cleanup());

  it('create exactly the tables, columns and indexes of schema.prisma', async () => {
    const db = await harness.create();
    const { applied } = await migrate(db.url);
    expect(applied).toEqual(allMigrations(harness.provider));
    const diff = diffCatalogs(await expectedCatalog(schemaFor(harness.provider, SCHEMA), harness.provider), await db.catalog());
    expect(diff, `schema drift:\n${diff.join('\n')}`).toEqual([]);
  });

  it('apply nothing the second time', async () => {
    const db = await harness.create();
    const logs: string[] = [];
    expect((await migrate(db.url)).applied.length).toBeGreaterThan(0);
    expect(await migrate(db.url, (msg) => logs.push(msg))).toEqual({ applied: [] });
    expect(logs.join('\n')).not.toMatch(/Applying/);
  });

  it('refuse a migration edited after it was applied', async () => {
    const db = await harness.create();
    await migrate(db.url);
    const tampered = createHash('sha256').update('something else').digest('hex');
    await db.run('UPDATE _prisma_migrations SET checksum = ? WHERE migration_name = ?', [tampered, INIT]);
    await expect(migrate(db.url)).rejects.toThrow(/checksum/);
  });

  it('refuse a database that has migrations this build does not know', async () => {
    const db = await harness.create();
    await migrate(db.url);
    await db.run("INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('x', 'y', CURRENT_TIMESTAMP, ?, 1)", [
      '29990101000000_from_the_future',
    ]);
    await expect(migrate(db.url)).rejects.toThrow(/29990101000000_from_the_future.*missing/);
  });

  it('catch drift in the comparison itself', async () => {
    const db = await harness.create();
    await migrate(db.url);
    const actual = await db.catalog();
    const mutations: [string, string, string, RegExp][] = [
      ['extra field', '  name          String?\n', '  name          String?\n  nickname      String?\n', /model User: column "nickname" is missing/],
      ['optional made required', '  lastError     String?', '  lastError     String', /model OutboxMessage: column "lastError" is nullable/],
      ['type change', '  attempts   Int       @default(0)', '  attempts   String    @default("0")', /model OneTimeCode: column "attempts" has type/],
      ['removed index', '  @@index([userCode])\n', '', /model OidcPayload: index on \(userCode\) \(OidcPayload_userCode_idx\) exists in the database/],
      ['unique instead of index', '  @@index([createdAt])\n}', '  @@unique([createdAt])\n}', /model AuditEvent: unique index on \(createdAt\) is missing/],
    ];
    for (const [label, from, to, message] of mutations) {
      const mutated = SCHEMA.replace(from, to);
      expect(mutated, `mutation "${label}" no longer applies to schema.prisma`).not.toBe(SCHEMA);
      const diff = diffCatalogs(await expectedCatalog(schemaFor(harness.provider, mutated), harness.provider), actual);
      expect(diff.join('\n'), label).toMatch(message);
    }
  });
});

describe('migrations on postgresql, two processes at once', () => {
  const harness = postgresHarness();
  afterAll(() => harness.cleanup());

  it('apply each migration once', async () => {
    const db = await harness.create();
    const results = await Promise.all([migrate(db.url), migrate(db.url)]);
    expect(results.flatMap((r) => r.applied)).toEqual(allMigrations('postgresql'));
  });
});
