// Chains of the limits' counters (storage/counters.ts): a send's limits and a code check's, each
// step counting only when the ones before it let the action through, in one statement on PostgreSQL.
import type { Db } from './db.js';
import { backoffDelay, type Backoff } from './backoff.js';
import { CLAIM, claimParams, HIT, HIT_SET, hitParams, NEXT_IN_WINDOW, nextReservation, READ_COUNTER, readCounter, RELAXED, RESTART_WINDOW, START_STREAK } from './counters.js';
import { readBool, readDate, sqlStatement, type Param, type Row, type Statement, type SyncSql } from './sql.js';
import { USER_ID_BY_EMAIL } from './users.js';

// A chain of counters that each count only when every one before it allowed the action (a send's
// limits: per IP, the resend cooldown, per scope, per identifier, per client; a code check's: per
// IP, the scope's failure streak, the identifier's day, per client), in one statement on PostgreSQL
// instead of one round trip each. Each step is a data-modifying CTE (cN: the upsert of HIT, CLAIM or
// a streak's reservation, made conditional by its SELECT's WHERE) with a gate (gN: may the next step
// run?) and its params (pN: its key, chosen by the chain's trust mark when it reads one). A gate
// reads the step before it, so the steps run in order and one lock order holds for every request
// (IP, cooldown, scope, identifier, client rows): parallel chains queue, they never deadlock. Each
// upsert takes the latest committed row as HIT and CLAIM do alone, so the counts are exact under
// parallel requests. SQLite has no data-modifying CTEs: there the same steps run as HIT, CLAIM and
// reserveFailure's writes in one synchronous transaction (chainOnSqlite), one commit instead of one each.
export type ChainKind = 'count' | 'cooldown' | 'streak';

/** One step of a chain; `key` null skips it (an absent client cap). */
export interface ChainStep {
  kind: ChainKind;
  key: string | null;
  /** In a chain that reads a trust mark: the key when the mark is there (null skips the step); undefined keeps `key`. */
  trustedKey?: string | null;
  window: number;
  /** A `count` step stops the chain above this (null: counted, never stops it). */
  max?: number | null;
  /** A `count` step above `max` still lets the chain go on when the step before counted at most this. */
  passIfPreviousAtMost?: number | null;
  /** A `streak` step's delays (reserveFailure's `delayFor`). */
  backoff?: Backoff;
}

/**
 * What a step that ran found: a count and its window start; whether a cooldown was claimed and the
 * last action's time; a streak's failures including this attempt, or the block that refused it.
 */
export type ChainResult = { kind: 'count'; count: number; windowStart: Date } | { kind: 'cooldown'; claimed: boolean; lastAt: Date | null } | StreakResult;
type StreakResult = { kind: 'streak'; reserved: true; count: number } | { kind: 'streak'; reserved: false; blockedUntil: Date | null };

/**
 * A read that rides along with a chain (in its statement on PostgreSQL, its transaction on SQLite),
 * so a request that needs both makes one round trip: a statement reading one value, `v`.
 */
export type ChainRead = Statement<{ v: unknown }>;

/** A chain's statement (PostgreSQL only), with the kinds of its steps, the read riding along and whether it reads a trust mark. */
export interface Chain extends Statement<Row> {
  readonly kinds: readonly ChainKind[];
  readonly read?: ChainRead;
  readonly trust: boolean;
}

/**
 * A mark that, when its window holds a hit, switches the chain's steps to their `trustedKey` (a
 * browser trusted for an identifier is its own scope): read in the chain's statement or transaction.
 */
export interface ChainTrust {
  key: string | null;
  window: number;
}

/** What a chain found: each step's result (undefined for a step that did not run), its read's value and whether its trust mark was there. */
export interface ChainRun {
  steps: (ChainResult | undefined)[];
  read: unknown;
  trusted: boolean;
}

const TS = '?::timestamp(3)';

/**
 * A streak step's blockedUntil after its `n`-th failure from `at`: backoff.ts backoffDelay in SQL
 * (no block for the free failures nor with a zero cap; the exponent is bounded so it never overflows).
 */
function blockAfter(n: string, at: string, free: string, most: string): string {
  return `CASE WHEN (${n}) > ${free} AND ${most} > 0 THEN ${at} + LEAST(power(2, LEAST((${n}) - ${free}, 1000)), ${most}) * interval '1 second' END`;
}

function chainStatement(kinds: readonly ChainKind[], options: { read?: ChainRead; trust?: boolean } = {}): Chain {
  const { read, trust = false } = options;
  const ctes: string[] = [RELAXED];
  const results: string[] = ['(SELECT commit FROM relaxed) AS commit'];
  if (trust) {
    ctes.push(`t AS (SELECT EXISTS (SELECT 1 FROM "Counter" WHERE "key" = ?::text AND "windowStart" > ${TS} AND "count" > 0) AS yes)`);
    results.push('(SELECT yes FROM t) AS trusted');
  }
  const keyParam = trust ? 'CASE WHEN (SELECT yes FROM t) THEN ?::text ELSE ?::text END' : '?::text';
  kinds.forEach((kind, i) => {
    const runs = i === 0 ? 'TRUE' : `(SELECT ok FROM g${i - 1})`;
    const key = `(SELECT k FROM p${i})`;
    const columns = `"key", "count", "windowStart", "lastAt", "expiresAt"`;
    if (kind === 'count') {
      const previous = kinds[i - 1] === 'count' || kinds[i - 1] === 'streak' ? `(SELECT "count" FROM c${i - 1})` : 'NULL::int';
      ctes.push(`p${i} AS (SELECT ${keyParam} AS k)`);
      ctes.push(
        `c${i} AS (INSERT INTO "Counter" (${columns}) SELECT ${key}, 1, ${TS}, ${TS}, ${TS} WHERE ${runs} AND ${key} IS NOT NULL ` +
          `ON CONFLICT ("key") DO UPDATE SET ${HIT_SET} RETURNING "count", "windowStart")`,
      );
      ctes.push(
        `g${i} AS (SELECT CASE WHEN ${key} IS NULL THEN ${runs} ELSE EXISTS (SELECT 1 FROM c${i} WHERE "count" <= COALESCE(?::int, "count") OR ${previous} <= ?::int) END AS ok)`,
      );
      results.push(`(SELECT "count" FROM c${i}) AS n${i}`, `(SELECT "windowStart" FROM c${i}) AS s${i}`);
    } else if (kind === 'cooldown') {
      ctes.push(`p${i} AS (SELECT ${keyParam} AS k)`);
      ctes.push(
        `c${i} AS (INSERT INTO "Counter" (${columns}) SELECT ${key}, 0, ${TS}, ${TS}, ${TS} WHERE ${runs} AND ${key} IS NOT NULL ` +
          `ON CONFLICT ("key") DO UPDATE SET "lastAt" = excluded."lastAt", "expiresAt" = excluded."expiresAt" WHERE "Counter"."lastAt" <= ${TS} RETURNING "key")`,
      );
      ctes.push(`g${i} AS (SELECT CASE WHEN ${key} IS NULL THEN ${runs} ELSE EXISTS (SELECT 1 FROM c${i}) END AS ok)`);
      // A claim refused by a row committed after this statement began reads no time: the caller waits the whole cooldown.
      results.push(`${runs} AS r${i}`, `EXISTS (SELECT 1 FROM c${i}) AS k${i}`, `(SELECT "lastAt" FROM "Counter" WHERE "key" = ${key}) AS l${i}`);
    } else {
      // reserveFailure in one upsert: refused while blocked (the WHERE, on the latest committed row),
      // else the failure counted in its window or a new window, blocked as if the attempt failed.
      const param = (name: string) => `(SELECT ${name} FROM p${i})`;
      const inWindow = `"Counter"."windowStart" > ${param('cutoff')}`;
      const failures = `CASE WHEN ${inWindow} THEN "Counter"."count" + 1 ELSE 1 END`;
      ctes.push(`p${i} AS (SELECT ${keyParam} AS k, ${TS} AS at, ${TS} AS cutoff, ?::int AS free, ?::int AS most)`);
      ctes.push(
        `c${i} AS (INSERT INTO "Counter" (${columns}, "blockedUntil") SELECT k, 1, at, at, ${TS}, ${blockAfter('1', 'at', 'free', 'most')} FROM p${i} WHERE ${runs} AND k IS NOT NULL ` +
          `ON CONFLICT ("key") DO UPDATE SET "count" = ${failures}, ` +
          `"windowStart" = CASE WHEN ${inWindow} THEN "Counter"."windowStart" ELSE excluded."windowStart" END, ` +
          `"expiresAt" = CASE WHEN ${inWindow} THEN "Counter"."expiresAt" ELSE excluded."expiresAt" END, ` +
          `"lastAt" = excluded."lastAt", "blockedUntil" = ${blockAfter(failures, 'excluded."lastAt"', param('free'), param('most'))} ` +
          `WHERE "Counter"."blockedUntil" IS NULL OR "Counter"."blockedUntil" <= excluded."lastAt" RETURNING "count")`,
      );
      ctes.push(`g${i} AS (SELECT CASE WHEN ${key} IS NULL THEN ${runs} ELSE EXISTS (SELECT 1 FROM c${i}) END AS ok)`);
      // The block that refused it, as this statement's snapshot has it (runChain reads it again when that is older).
      results.push(`${runs} AS r${i}`, `(SELECT "count" FROM c${i}) AS n${i}`, `(SELECT "blockedUntil" FROM "Counter" WHERE "key" = ${key}) AS b${i}`);
    }
  });
  if (read) results.push(`(${read.text}) AS v`);
  return Object.assign(sqlStatement(`WITH ${ctes.join(', ')} SELECT ${results.join(', ')}`, ['postgresql']), { kinds, read, trust });
}

/** The params of a chain's statement for `steps` (and its trust mark's and read's), in the order its text takes them. */
function chainParams(chain: Chain, steps: readonly ChainStep[], now: Date, trust: ChainTrust | undefined, read: Param[]): Param[] {
  const params: Param[] = chain.trust ? [trust?.key ?? null, new Date(now.getTime() - (trust?.window ?? 0) * 1000)] : [];
  for (const step of steps) {
    const since = new Date(now.getTime() - step.window * 1000);
    const expiresAt = new Date(now.getTime() + step.window * 1000);
    if (chain.trust) params.push(step.trustedKey === undefined ? step.key : step.trustedKey);
    params.push(step.key);
    if (step.kind === 'count') {
      params.push(now, now, expiresAt, since, since, since, step.max ?? null, step.passIfPreviousAtMost ?? null);
    } else if (step.kind === 'cooldown') {
      params.push(now, now, expiresAt, since);
    } else {
      params.push(now, since, step.backoff?.free ?? 0, step.backoff?.max ?? 0, expiresAt);
    }
  }
  return chain.read ? [...params, ...read] : params;
}

/**
 * The send limits of risk/code-limits.ts (checkSend): per IP, the resend cooldown, per scope, per
 * identifier, per client; with the id of the user of an email address, which an email send needs next.
 */
export const SEND_CHAIN = chainStatement(['count', 'cooldown', 'count', 'count', 'count'], { read: USER_ID_BY_EMAIL });

/**
 * The limits of a code check (risk/code-limits.ts reserveVerify): per IP, the scope's failure
 * streak, the identifier's failures of the day, per client; with the trusted-browser mark that
 * picks the scope (and skips the day for a trusted browser).
 */
export const VERIFY_CHAIN = chainStatement(['count', 'streak', 'count', 'count'], { trust: true });

/** The key a step counts under, once the chain's trust mark was read. */
function keyOf(step: ChainStep, trusted: boolean): string | null {
  return trusted && step.trustedKey !== undefined ? step.trustedKey : step.key;
}

/**
 * Runs `steps` (of the kinds of `chain`) and, with `read` (its params), the chain's read; with
 * `trust`, a chain that reads a trust mark reads that one.
 */
export async function runChain(db: Db, chain: Chain, steps: readonly ChainStep[], now = new Date(), read: Param[] = [null], trust?: ChainTrust): Promise<ChainRun> {
  if (db.sql.atomically) {
    const statements = [HIT, CLAIM, READ_COUNTER, START_STREAK, NEXT_IN_WINDOW, RESTART_WINDOW, ...(chain.read ? [chain.read] : [])];
    return db.sql.atomically(statements, (sql) => {
      const trusted = chain.trust && trust !== undefined && trust.key !== null && trustedOn(sql.one(READ_COUNTER, [trust.key]), trust.window, now);
      return { steps: chainOnSqlite(sql, steps, now, trusted), read: chain.read && sql.one(chain.read, read)?.v, trusted };
    });
  }
  const row = (await db.sql.one(chain, chainParams(chain, steps, now, trust, read)))!;
  const trusted = chain.trust && readBool(row.trusted);
  const results: (ChainResult | undefined)[] = [];
  for (const [i, step] of steps.entries()) {
    const key = keyOf(step, trusted);
    if (step.kind === 'count') {
      results.push(row[`n${i}`] === null || row[`n${i}`] === undefined ? undefined : { kind: 'count', count: Number(row[`n${i}`]), windowStart: readDate(row[`s${i}`])! });
    } else if (key === null || (i > 0 && !readBool(row[`r${i}`]))) {
      results.push(undefined);
    } else if (step.kind === 'cooldown') {
      results.push({ kind: 'cooldown', claimed: readBool(row[`k${i}`]), lastAt: readDate(row[`l${i}`]) });
    } else if (row[`n${i}`] !== null && row[`n${i}`] !== undefined) {
      results.push({ kind: 'streak', reserved: true, count: Number(row[`n${i}`]) });
    } else {
      // Blocked by a row committed after the statement began: its block is read as reserveFailure's next round would.
      let blockedUntil = readDate(row[`b${i}`]);
      if ((blockedUntil?.getTime() ?? 0) <= now.getTime()) blockedUntil = readDate((await readCounter(db, key))?.blockedUntil);
      results.push({ kind: 'streak', reserved: false, blockedUntil });
    }
  }
  return { steps: results, read: row.v, trusted };
}

/** Whether a counter row (READ_COUNTER) holds a hit in its window of `windowSeconds` (readWindow's count > 0). */
function trustedOn(row: { count: number; windowStart: Date | string } | undefined, windowSeconds: number, now: Date): boolean {
  return row !== undefined && readDate(row.windowStart)!.getTime() > now.getTime() - windowSeconds * 1000 && Number(row.count) > 0;
}

/** The chain's statement on SQLite: the same gates as chainStatement's, between HIT, CLAIM and a streak's reservation. */
function chainOnSqlite(sql: SyncSql, steps: readonly ChainStep[], now: Date, trusted: boolean): (ChainResult | undefined)[] {
  const results: (ChainResult | undefined)[] = [];
  let passed = true;
  for (const step of steps) {
    const key = keyOf(step, trusted);
    if (!passed || key === null) {
      results.push(undefined);
      continue;
    }
    const previous = results.at(-1);
    if (step.kind === 'count') {
      const row = sql.one(HIT, hitParams(key, step.window, now))!;
      const count = Number(row.count);
      results.push({ kind: 'count', count, windowStart: readDate(row.windowStart)! });
      const below = (max: number | null | undefined) => max === null || max === undefined || count <= max;
      const before = previous && 'count' in previous ? previous.count : undefined;
      const yields = step.passIfPreviousAtMost !== null && step.passIfPreviousAtMost !== undefined && before !== undefined && before <= step.passIfPreviousAtMost;
      passed = below(step.max) || yields;
    } else if (step.kind === 'cooldown') {
      const claimed = sql.one(CLAIM, claimParams(key, step.window, now)) !== undefined;
      results.push({ kind: 'cooldown', claimed, lastAt: claimed ? now : readDate(sql.one(READ_COUNTER, [key])?.lastAt) });
      passed = claimed;
    } else {
      // Alone in the transaction, reserveFailure's first round always decides.
      const backoff = step.backoff ?? { free: 0, max: 0 };
      const next = nextReservation(sql.one(READ_COUNTER, [key]), key, step.window, (n) => backoffDelay(backoff, n), now);
      if ('blockedUntil' in next) {
        results.push({ kind: 'streak', reserved: false, blockedUntil: next.blockedUntil });
        passed = false;
      } else {
        sql.run(next.write, next.params);
        results.push({ kind: 'streak', reserved: true, count: next.failures });
      }
    }
  }
  return results;
}
