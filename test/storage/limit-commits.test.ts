// On PostgreSQL the limits' chains (storage/counter-chains.ts) commit without waiting for the WAL flush:
// every request from one IP, or for one client, updates the same counter row, and held until each
// commit's flush that row queued them all (issue 18); so do the single counts of check(), such as
// a tenant's tracks. Made visible here with commit_delay, which makes every commit that waits for
// the flush sleep first: a replay's marker pays it (it must survive a crash), the counts do not;
// and the relaxed commit stays with each statement's own transaction.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../../src/risk/check.js';
import { checkSend, reserveVerify } from '../../src/risk/code-limits.js';
import { CLIENT_ASSERTION, TRACKS_PER_TENANT, type CodeLimitSettings } from '../../src/risk/limits.js';
import type { Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { postgresSql } from '../../src/storage/sql.js';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../helpers/databases.js';

/** The longest commit_delay PostgreSQL takes (microseconds): 100 ms before each flushing commit. */
const COMMIT_DELAY_US = 100_000;
const ROUNDS = 5;
const SETTINGS: CodeLimitSettings = {
  resendCooldown: 0,
  sendsPerHour: 100,
  sendsPerIdentifierPerHour: 100,
  freeFailures: 3,
  maxFailureDelay: 60,
  failuresPerIdentifierPerDay: 100,
  trustedBrowserTtl: 3600,
  sendsPerIpPerHour: 100,
  verifiesPerIpPerMinute: 100,
};
const who = { ip: '198.51.100.7', network: '198.51.100.0/24' };

describe('the limits on PostgreSQL', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let db: Db;

  beforeAll(async () => {
    database = await createTestDatabase('postgresql');
    await migrate(database.url);
    const schema = new URL(database.url).searchParams.get('schema')!;
    // One connection, so the setting read after the chains is the one they ran on.
    pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1, options: `-c search_path="${schema}" -c commit_delay=${COMMIT_DELAY_US} -c commit_siblings=0` });
    db = { provider: 'postgresql', sql: postgresSql(pool) } as Db;
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  /** Milliseconds `work` took. */
  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const inTurn = async (work: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < ROUNDS; i++) await work(i);
  };

  const delayed = ROUNDS * (COMMIT_DELAY_US / 1000);

  it("a replay's marker waits for the flush: each of its commits sleeps first", async () => {
    const marks: unknown[] = [];
    const took = await timed(() => inTurn(async (i) => marks.push(await check(db, CLIENT_ASSERTION, ['app', `jti-${i}`], { maxAge: 60 }))));
    // The premise of the next tests: on this connection a commit that waits for the flush sleeps.
    expect(took).toBeGreaterThanOrEqual(delayed);
    expect(marks).toEqual(Array.from({ length: ROUNDS }, () => ({ kind: 'allow', count: 1 })));
  });

  it('a send and a code check take their counters without waiting for the flush; the connection keeps waiting for it', async () => {
    const sends: unknown[] = [];
    const checks: unknown[] = [];
    const chains = await timed(() =>
      inTurn(async (i) => {
        sends.push(await checkSend(db, SETTINGS, `ada${i}@example.com`, who));
        checks.push(await reserveVerify(db, SETTINGS, `ada${i}@example.com`, who));
      }),
    );
    // Ten chains in less time than five commits waiting for the flush slept: none of them slept.
    expect(chains).toBeLessThan(delayed);
    expect(sends).toEqual(Array.from({ length: ROUNDS }, () => ({ limited: false, userId: null })));
    expect(checks).toEqual(
      Array.from({ length: ROUNDS }, (_, i) => ({ limited: false, reservation: { streak: [`ada${i}@example.com`, `n:${who.network}`], day: [`ada${i}@example.com`] } })),
    );
    // Counted all the same: the IP's sends and checks.
    const counts = await pool.query(`SELECT "key", "count" FROM "Counter" WHERE "key" LIKE '%${who.ip}' ORDER BY "key"`);
    expect(counts.rows).toEqual([
      { key: `send-ip:${who.ip}`, count: ROUNDS },
      { key: `verify-ip:${who.ip}`, count: ROUNDS },
    ]);
    expect((await pool.query('SHOW synchronous_commit')).rows).toEqual([{ synchronous_commit: 'on' }]);
  });

  it("a tenant's tracks are counted without waiting for the flush, and still refused past the cap", async () => {
    const decisions: unknown[] = [];
    const took = await timed(() => inTurn(async () => decisions.push(await check(db, TRACKS_PER_TENANT, ['tenant-a'], { tracksPerMinute: ROUNDS - 1 }))));
    expect(took).toBeLessThan(delayed);
    expect(decisions).toEqual([
      ...Array.from({ length: ROUNDS - 1 }, (_, i) => ({ kind: 'allow', count: i + 1 })),
      { kind: 'refuse', limit: 'tracks per tenant', retryAfter: expect.any(Number), count: ROUNDS },
    ]);
    expect((await pool.query('SHOW synchronous_commit')).rows).toEqual([{ synchronous_commit: 'on' }]);
  });
});
