// The token reads of userinfo, introspection and refresh must touch a handful of index entries
// whatever the number of sessions: PostgreSQL plans a prepared statement once, generically, and on
// a database whose statistics are stale or missing (autovacuum off, or a table that grew since its
// last ANALYZE) it once read the key of every session for each token (the "model" prefix of the
// primary key ANDed with the uid index). The same for one statement with the tokens of many
// requests (storage/read-batch.ts). Counted from EXPLAIN ANALYZE's rows, not timed.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/storage/migrate.js';
import { FIND_PAYLOAD_BY_UID, FIND_TOKENS_WITH_RELATED_POSTGRES } from '../../src/storage/oidc-adapter.js';
import { CONSUME_AND_UPSERT_BATCH } from '../../src/storage/payload-writes.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const SESSIONS = 3000;

interface PlanNode {
  'Node Type': string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan, depth first. */
function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('token reads on PostgreSQL with many sessions and no statistics', () => {
  let database: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('postgresql');
    await migrate(database.url);
    const schema = new URL(database.url).searchParams.get('schema')!;
    client = new pg.Client({ connectionString: database.url, options: `-c search_path="${schema}"` });
    await client.connect();
    const future = new Date(Date.now() + 86_400_000);
    await client.query(
      `INSERT INTO "OidcPayload" ("model", "id", "payload", "uid", "expiresAt") SELECT 'Session', 's' || g, '{}', 'u' || g, $1 FROM generate_series(1, ${SESSIONS}) AS g`,
      [future],
    );
    await client.query(
      `INSERT INTO "OidcPayload" ("model", "id", "payload", "grantId", "expiresAt") SELECT 'Grant', 'g' || g, '{}', 'g' || g, $1 FROM generate_series(1, ${SESSIONS}) AS g`,
      [future],
    );
    await client.query(
      `INSERT INTO "OidcPayload" ("model", "id", "payload", "grantId", "expiresAt") SELECT 'AccessToken', 'a' || g, '{"sessionUid":"u' || g || '"}', 'g' || g, $1 FROM generate_series(1, ${SESSIONS}) AS g`,
      [future],
    );
    // As the server runs them: prepared, and planned once for any parameter.
    await client.query('SET plan_cache_mode = force_generic_plan');
  });
  afterAll(async () => {
    await client?.end();
    await database?.drop();
  });

  async function plan(text: string, params: string[]): Promise<PlanNode[]> {
    const name = `plan_${Math.random().toString(36).slice(2)}`;
    await client.query(`PREPARE ${name} AS ${text}`);
    // EXPLAIN EXECUTE takes no bound parameters: the values go in as literals.
    const values = params.map((p) => client.escapeLiteral(p)).join(', ');
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${name}(${values})`);
    await client.query(`DEALLOCATE ${name}`);
    return nodes(rows[0]!['QUERY PLAN'][0].Plan);
  }

  /** Rows the plan's scans produced in all, bitmap index scans included (they count index entries). */
  const rowsRead = (plan: PlanNode[]) => plan.filter((n) => /Scan/.test(n['Node Type'])).reduce((sum, n) => sum + n['Actual Rows'] * n['Actual Loops'], 0);

  it('reads a token with its session, grant and user from a few index entries', async () => {
    const read = await plan(FIND_TOKENS_WITH_RELATED_POSTGRES.postgres, ['{a1234}']);
    expect(rowsRead(read)).toBeLessThanOrEqual(6);
    expect(read.find((n) => n['Index Name'] === 'OidcPayload_uid_model_idx')).toMatchObject({ 'Actual Rows': 1 });
  });

  it('reads the tokens of many requests at once from a few index entries each', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `a${100 + i * 50}`);
    const read = await plan(FIND_TOKENS_WITH_RELATED_POSTGRES.postgres, [`{${ids.join(',')}}`]);
    expect(rowsRead(read)).toBeLessThanOrEqual(6 * ids.length);
    expect(read[0]).toMatchObject({ 'Actual Rows': ids.length });
  });

  it("stamps refreshes' tokens consumed from a few index entries each (rolled back)", async () => {
    const at = '2030-01-01T00:00:00.000';
    await client.query('BEGIN');
    try {
      const read = await plan(CONSUME_AND_UPSERT_BATCH.postgres, [
        ...['{0,1,2}', `{${at},${at},${at}}`, '{AccessToken,AccessToken,AccessToken}', '{a17,a2900,a1500}'],
        ...['{0}', '{AccessToken}', '{new-at}', '{"{}"}', '{g17}', '{NULL}', '{NULL}', `{${at}}`, '{NULL}'],
      ]);
      expect(rowsRead(read)).toBeLessThanOrEqual(20);
      expect(read[0]).toMatchObject({ 'Actual Rows': 3 });
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('finds a session by its uid from one index entry', async () => {
    const read = await plan(FIND_PAYLOAD_BY_UID.postgres, ['Session', 'u2345']);
    expect(rowsRead(read)).toBeLessThanOrEqual(2);
  });
});
