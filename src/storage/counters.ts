// Counters shared by every instance through the database: fixed-window hits, cooldowns and
// failure streaks. Each change is one statement, so parallel requests cannot both win.
import type { Db } from './db.js';
import type { Counter } from './generated/sqlite/client.js';
import { USER_ID_BY_EMAIL } from './users.js';
import { backoffDelay, type Backoff } from './backoff.js';
import { readBool, readDate, sqlBatch, sqlStatement, type Param, type RawRow, type Row, type Statement, type SyncSql } from './sql.js';

// hitWindow and claimCooldown run on every code sent and every code tried, several times: each is
// one upsert through sql.ts (atomic on both engines: SET sees the row as it was before the update).
const HIT_SET =
  '"count" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."count" + 1 ELSE 1 END, ' +
  '"windowStart" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."windowStart" ELSE excluded."windowStart" END, ' +
  '"expiresAt" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."expiresAt" ELSE excluded."expiresAt" END, ' +
  '"lastAt" = excluded."lastAt"';
export const HIT = sqlStatement<RawRow<Counter, 'count' | 'windowStart'>>(
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") VALUES (?, 1, ?, ?, ?) ' +
    `ON CONFLICT ("key") DO UPDATE SET ${HIT_SET} RETURNING "count", "windowStart"`,
);

function hitParams(key: string, windowSeconds: number, now: Date): Param[] {
  const cutoff = new Date(now.getTime() - windowSeconds * 1000);
  const expiresAt = new Date(now.getTime() + windowSeconds * 1000);
  return [key, now, now, expiresAt, cutoff, cutoff, cutoff];
}

/** Counts one hit in the current window of `windowSeconds`; returns the count including it. */
export async function hitWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const row = await db.sql.one(HIT, hitParams(key, windowSeconds, now));
  return Number(row!.count);
}

// Takes the cooldown only when the last action is old enough; otherwise the upsert changes nothing
// and returns no row.
export const CLAIM = sqlStatement(
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") VALUES (?, 0, ?, ?, ?) ' +
    'ON CONFLICT ("key") DO UPDATE SET "lastAt" = excluded."lastAt", "expiresAt" = excluded."expiresAt" WHERE "Counter"."lastAt" <= ? ' +
    'RETURNING "key"',
);

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
  // The limits' counters are committed without waiting for the WAL flush (set_config(..., true) holds
  // for this statement's own transaction; the connection keeps its setting). Every request from
  // one IP, or for one client, updates the same counter row and holds its lock until its commit: at
  // load, waiting for each flush in turn queued them all behind one another (passwordless_start on
  // PostgreSQL: 468 starts/s, p99 215 ms; 914/s, p99 125 ms relaxed). A crash of PostgreSQL can
  // lose the last moments of counts, nothing else: a chain writes counters only, and a code's own
  // attempts (SPEND_ATTEMPT) still commit durably.
  const ctes: string[] = ["relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS commit)"];
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

// Reads of one counter (a window's count, a cooldown's last action, a streak's block), on the code
// paths too (the hosted pages' trusted-browser check, the SMS guard), so prepared like the writes.
export const READ_COUNTER = sqlStatement<RawRow<Counter, 'count' | 'windowStart' | 'lastAt' | 'blockedUntil'>>(
  'SELECT "count", "windowStart", "lastAt", "blockedUntil" FROM "Counter" WHERE "key" = ?',
);
export const DELETE_COUNTER = sqlStatement('DELETE FROM "Counter" WHERE "key" = ?');

function readCounter(db: Db, key: string) {
  return db.sql.one(READ_COUNTER, [key]);
}

function claimParams(key: string, cooldownSeconds: number, now: Date): Param[] {
  const since = new Date(now.getTime() - cooldownSeconds * 1000);
  const expiresAt = new Date(now.getTime() + cooldownSeconds * 1000);
  return [key, now, now, expiresAt, since];
}

/** The count of `key` in its current window of `windowSeconds` (0 when none). */
export async function readWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const row = await readCounter(db, key);
  return row && readDate(row.windowStart)!.getTime() > now.getTime() - windowSeconds * 1000 ? Number(row.count) : 0;
}

/** Claims the right to act once per `cooldownSeconds`; returns 0 when claimed, else seconds to wait. */
export async function claimCooldown(db: Db, key: string, cooldownSeconds: number, now = new Date()): Promise<number> {
  if (await db.sql.one(CLAIM, claimParams(key, cooldownSeconds, now))) return 0;
  const last = readDate((await readCounter(db, key))?.lastAt)?.getTime() ?? now.getTime();
  return Math.max(1, Math.ceil((last + cooldownSeconds * 1000 - now.getTime()) / 1000));
}

/** Seconds left before `key` may act again after `claimCooldown`, without claiming. */
export async function cooldownLeft(db: Db, key: string, cooldownSeconds: number, now = new Date()): Promise<number> {
  const last = readDate((await readCounter(db, key))?.lastAt);
  if (!last) return 0;
  return Math.max(0, Math.ceil((last.getTime() + cooldownSeconds * 1000 - now.getTime()) / 1000));
}

// A failure streak is reserved before the attempt is judged: read the streak, then one conditional
// update that succeeds only if nobody changed the count meanwhile and the key is not blocked. It sets
// the delay the attempt would earn as if it failed, so parallel guesses during a delay cannot all be
// evaluated (PostgreSQL runs them truly in parallel); a success clears the streak afterwards.
export const START_STREAK = sqlStatement(
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt", "blockedUntil") VALUES (?, 1, ?, ?, ?, ?) ' + 'ON CONFLICT ("key") DO NOTHING RETURNING "key"',
);
export const NEXT_IN_WINDOW = sqlStatement(
  'UPDATE "Counter" SET "count" = ?, "lastAt" = ?, "blockedUntil" = ? ' + 'WHERE "key" = ? AND "count" = ? AND ("blockedUntil" IS NULL OR "blockedUntil" <= ?)',
);
export const RESTART_WINDOW = sqlStatement(
  'UPDATE "Counter" SET "count" = 1, "windowStart" = ?, "lastAt" = ?, "expiresAt" = ?, "blockedUntil" = ? ' +
    'WHERE "key" = ? AND "count" = ? AND ("blockedUntil" IS NULL OR "blockedUntil" <= ?)',
);

export type Reservation = { ok: true; failures: number } | { ok: false; retryAfter: number };

/**
 * One round of reserveFailure on the row of `key` as read: the block in effect, or the write that
 * reserves the attempt (changing one row only if nobody changed it since) and the failures it makes.
 */
function nextReservation(
  row: { count: number; windowStart: Date | string; blockedUntil: Date | string | null } | undefined,
  key: string,
  keepSeconds: number,
  delayFor: (failures: number) => number,
  now: Date,
): { blockedUntil: Date } | { write: Statement<unknown>; params: Param[]; failures: number } {
  const blockUntil = (failures: number) => {
    const delay = delayFor(failures);
    return delay > 0 ? new Date(now.getTime() + delay * 1000) : null;
  };
  const expiresAt = new Date(now.getTime() + keepSeconds * 1000);
  if (!row) return { write: START_STREAK, params: [key, now, now, expiresAt, blockUntil(1)], failures: 1 };
  const until = readDate(row.blockedUntil);
  if (until && until.getTime() > now.getTime()) return { blockedUntil: until };
  const count = Number(row.count);
  const inWindow = readDate(row.windowStart)!.getTime() > now.getTime() - keepSeconds * 1000;
  const failures = inWindow ? count + 1 : 1;
  return inWindow
    ? { write: NEXT_IN_WINDOW, params: [failures, now, blockUntil(failures), key, count, now], failures }
    : { write: RESTART_WINDOW, params: [now, now, expiresAt, blockUntil(1), key, count, now], failures };
}

/**
 * Reserves one attempt on the failure streak `key` (kept `keepSeconds`), unless it is blocked:
 * `failures` is the streak including this attempt, and the key is already blocked for
 * `delayFor(failures)` seconds, as if the attempt failed. `clearCounter` undoes it on success.
 */
export async function reserveFailure(db: Db, key: string, keepSeconds: number, delayFor: (failures: number) => number, now = new Date()): Promise<Reservation> {
  // Each lost race means another attempt was reserved; a few rounds settle any burst.
  for (let round = 0; round < 50; round++) {
    const next = nextReservation(await readCounter(db, key), key, keepSeconds, delayFor, now);
    if ('blockedUntil' in next) return { ok: false, retryAfter: Math.ceil((next.blockedUntil.getTime() - now.getTime()) / 1000) };
    // START_STREAK returns its row when it inserted; the updates say how many rows they changed.
    const changed = next.write === START_STREAK ? ((await db.sql.one(START_STREAK, next.params)) ? 1 : 0) : await db.sql.run(next.write, next.params);
    if (changed === 1) return { ok: true, failures: next.failures };
  }
  return { ok: false, retryAfter: 1 };
}

export const UNHIT = sqlStatement('UPDATE "Counter" SET "count" = "count" - 1 WHERE "key" = ? AND "count" > 0');

/** Takes back one hit of `hitWindow` (an attempt that turned out not to count). */
export async function unhitWindow(db: Db, key: string): Promise<void> {
  await db.sql.run(UNHIT, [key]);
}

// A right code: its streak cleared and its hit of the day taken back, one commit.
export const CLEAR_AND_UNHIT = sqlBatch([DELETE_COUNTER, UNHIT]);

/** clearCounter(`cleared`) and unhitWindow(`unhit`) together (two keys: one statement on PostgreSQL, one transaction on SQLite). */
export async function clearAndUnhit(db: Db, cleared: string, unhit: string): Promise<void> {
  await db.sql.batch(CLEAR_AND_UNHIT, [[cleared], [unhit]]);
}

// clearCounter then hitWindow as one upsert: the row as a first hit would write it.
export const RESTART = sqlStatement(
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") VALUES (?, 1, ?, ?, ?) ' +
    'ON CONFLICT ("key") DO UPDATE SET "count" = 1, "windowStart" = excluded."windowStart", "lastAt" = excluded."lastAt", ' +
    '"expiresAt" = excluded."expiresAt", "blockedUntil" = NULL',
);

/** Starts the window of `key` over with one hit now (what clearCounter then hitWindow leave). */
export async function restartWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<void> {
  await db.sql.run(RESTART, [key, now, now, new Date(now.getTime() + windowSeconds * 1000)]);
}

/** When the current window of `key` started (null when none). */
export async function windowStartOf(db: Db, key: string): Promise<Date | null> {
  return readDate((await readCounter(db, key))?.windowStart);
}

/** Seconds `key` is still blocked for (0 when free). */
export async function blockedFor(db: Db, key: string, now = new Date()): Promise<number> {
  const until = readDate((await readCounter(db, key))?.blockedUntil)?.getTime() ?? 0;
  return until > now.getTime() ? Math.ceil((until - now.getTime()) / 1000) : 0;
}

export async function clearCounter(db: Db, key: string): Promise<void> {
  await db.sql.run(DELETE_COUNTER, [key]);
}

export async function sweepCounters(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.counter.deleteMany({ where: { expiresAt: { lte: now }, OR: [{ blockedUntil: null }, { blockedUntil: { lte: now } }] } });
  return count;
}
