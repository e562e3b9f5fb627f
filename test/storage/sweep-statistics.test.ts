// A sweep keeps PostgreSQL's plans fit for the tables' size where autovacuum is off (these machines
// run it so): a connection that planned the track's history read while the decisions table was
// empty reads one user's decisions from a few index entries once a sweep has run, not every
// decision of the tenant. Counted from EXPLAIN ANALYZE's rows, not timed.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY } from '../../src/storage/action-decisions.js';
import { openDb, type Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { sweepExpired } from '../../src/storage/sweep.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const DECISIONS = 3000;

interface PlanNode {
  'Node Type': string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}
const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

describe('sweeps and PostgreSQL statistics', () => {
  let database: TestDatabase;
  let db: Db;
  let client: pg.Client;
  let autovacuum: string;

  beforeAll(async () => {
    database = await createTestDatabase('postgresql');
    await migrate(database.url);
    db = openDb(database.url);
    const schema = new URL(database.url).searchParams.get('schema')!;
    client = new pg.Client({ connectionString: database.url, options: `-c search_path="${schema}"` });
    await client.connect();
    autovacuum = (await client.query<{ autovacuum: string }>("SELECT current_setting('autovacuum') AS autovacuum")).rows[0]!.autovacuum;
  });
  afterAll(async () => {
    await client?.end();
    await db?.close();
    await database?.drop();
  });

  const hourAgo = () => new Date(Date.now() - 3_600_000).toISOString();
  const history = (user: string) => [true, 't', user, 'signIn', hourAgo(), true, 't', 'signIn', '10.0.3.1', hourAgo(), true, 't', user, `d-${user}`];

  /** The history read on `client`'s own prepared statement, as a server connection runs it; its scans' rows and filtered rows. */
  async function historyRowsRead(user: string): Promise<number> {
    const values = history(user)
      .map((v) => (typeof v === 'boolean' ? String(v) : client.escapeLiteral(v)))
      .join(', ');
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE history(${values})`);
    return nodes(rows[0]!['QUERY PLAN'][0].Plan)
      .filter((n) => /Scan/.test(n['Node Type']))
      .reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops'], 0);
  }

  it('analyzes the tables where autovacuum is off, and the history read then touches a few rows', async () => {
    await client.query(`PREPARE history AS ${HISTORY.postgres}`);
    // Planned (and, after five runs, cached) while the table is empty, like a new install's first tracks.
    for (let i = 0; i < 6; i++)
      await client.query(
        `EXECUTE history(${history('u1')
          .map((v) => (typeof v === 'boolean' ? String(v) : client.escapeLiteral(v)))
          .join(', ')})`,
      );
    await client.query(
      'INSERT INTO "ActionDecision" ("id", "tenantId", "userId", "actionCode", "idempotencyKey", "outcome", "state", "ruleIds", "explanation", "ip", "deviceId", "createdAt", "updatedAt", "stateUpdatedAt") ' +
        `SELECT 'x' || g, 't', 'u' || g, 'signIn', 'k' || g, 'ALLOW', 'ALLOW', '[]', '', '10.0.' || (g % 200) || '.1', 'd-u' || g, now(), now(), now() FROM generate_series(1, ${DECISIONS}) AS g`,
    );
    const swept = await sweepExpired(db, { auditRetention: 86_400 });
    const tables = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema()')).rows[0]!.n;
    if (autovacuum === 'off') {
      expect(swept.analyzed).toBe(tables);
      const analyzed = await client.query('SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() AND last_analyze IS NULL');
      expect(analyzed.rows).toEqual([]);
      // The user's one decision and the address's 15, not the tenant's 3,000.
      expect(await historyRowsRead('u77')).toBeLessThanOrEqual(40);
    } else {
      // Autovacuum analyzes on its own schedule; the sweep leaves it to it.
      expect(swept.analyzed).toBe(0);
    }
  });

  it('analyzes nothing on SQLite', async () => {
    const sqlite = await createTestDatabase('sqlite');
    await migrate(sqlite.url);
    const local = openDb(sqlite.url);
    try {
      expect((await sweepExpired(local, { auditRetention: 86_400 })).analyzed).toBe(0);
    } finally {
      await local.close();
      await sqlite.drop();
    }
  });
});
