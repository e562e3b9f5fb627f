// Counters shared by every instance through the database: fixed-window hits, cooldowns and
// failure streaks. Each change is one statement, so parallel requests cannot both win.
import type { Db } from './db.js';
import type { Counter } from './generated/sqlite/client.js';
import { USER_ID_BY_EMAIL } from './users.js';
import { readBool, readDate, sqlStatement, type Param, type RawRow, type Row, type Statement, type SyncSql } from './sql.js';

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
// limits: per IP, the resend cooldown, per scope, per identifier, per client), in one statement on
// PostgreSQL instead of one round trip each. Each step is a data-modifying CTE (cN: the upsert of
// HIT or CLAIM, made conditional by its SELECT's WHERE) with a gate (gN: may the next step run?).
// A gate reads the step before it, so the steps run in order and one lock order holds for every
// request (IP, cooldown, scope, identifier, client rows): parallel chains queue, they never
// deadlock. Each upsert takes the latest committed row as HIT and CLAIM do alone, so the counts are
// exact under parallel requests. SQLite has no data-modifying CTEs: there the same steps run as HIT
// and CLAIM in one synchronous transaction (chainOnSqlite), one commit instead of one each.
export type ChainKind = 'count' | 'cooldown';

/** One step of a chain; `key` null skips it (an absent client cap). */
export interface ChainStep {
  kind: ChainKind;
  key: string | null;
  window: number;
  /** A `count` step stops the chain above this (null: counted, never stops it). */
  max?: number | null;
  /** A `count` step above `max` still lets the chain go on when the step before counted at most this. */
  passIfPreviousAtMost?: number | null;
}

/** What a step that ran found: its count and window start, or whether its cooldown was claimed and the last action's time. */
export type ChainResult = { kind: 'count'; count: number; windowStart: Date } | { kind: 'cooldown'; claimed: boolean; lastAt: Date | null };

/**
 * A read that rides along with a chain (in its statement on PostgreSQL, its transaction on SQLite),
 * so a request that needs both makes one round trip: a statement reading one value, `v`.
 */
export type ChainRead = Statement<{ v: unknown }>;

/** A chain's statement (PostgreSQL only), with the kinds of its steps and the read riding along. */
export interface Chain extends Statement<Row> {
  readonly kinds: readonly ChainKind[];
  readonly read?: ChainRead;
}

/** What a chain found: each step's result (undefined for a step that did not run), and its read's value. */
export interface ChainRun {
  steps: (ChainResult | undefined)[];
  read: unknown;
}

const TS = '?::timestamp(3)';
function chainStatement(kinds: readonly ChainKind[], read?: ChainRead): Chain {
  const ctes: string[] = [];
  const results: string[] = [];
  kinds.forEach((kind, i) => {
    const runs = i === 0 ? 'TRUE' : `(SELECT ok FROM g${i - 1})`;
    const insert = `INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") SELECT ?::text, ${kind === 'count' ? 1 : 0}, ${TS}, ${TS}, ${TS} WHERE ${runs} AND ?::text IS NOT NULL ON CONFLICT ("key") DO UPDATE SET `;
    if (kind === 'count') {
      const previous = kinds[i - 1] === 'count' ? `(SELECT "count" FROM c${i - 1})` : 'NULL::int';
      ctes.push(`c${i} AS (${insert}${HIT_SET} RETURNING "count", "windowStart")`);
      ctes.push(
        `g${i} AS (SELECT CASE WHEN ?::text IS NULL THEN ${runs} ELSE EXISTS (SELECT 1 FROM c${i} WHERE "count" <= COALESCE(?::int, "count") OR ${previous} <= ?::int) END AS ok)`,
      );
      results.push(`(SELECT "count" FROM c${i}) AS n${i}`, `(SELECT "windowStart" FROM c${i}) AS s${i}`);
    } else {
      ctes.push(`c${i} AS (${insert}"lastAt" = excluded."lastAt", "expiresAt" = excluded."expiresAt" WHERE "Counter"."lastAt" <= ${TS} RETURNING "key")`);
      ctes.push(`g${i} AS (SELECT CASE WHEN ?::text IS NULL THEN ${runs} ELSE EXISTS (SELECT 1 FROM c${i}) END AS ok)`);
      // A claim refused by a row committed after this statement began reads no time: the caller waits the whole cooldown.
      results.push(`${runs} AS r${i}`, `EXISTS (SELECT 1 FROM c${i}) AS k${i}`, `(SELECT "lastAt" FROM "Counter" WHERE "key" = ?) AS l${i}`);
    }
  });
  if (read) results.push(`(${read.text}) AS v`);
  return Object.assign(sqlStatement(`WITH ${ctes.join(', ')} SELECT ${results.join(', ')}`, ['postgresql']), { kinds, read });
}

/** The params of a chain's statement for `steps` (and its read's), in the order its text takes them. */
function chainParams(steps: readonly ChainStep[], now: Date, read: Param[]): Param[] {
  const params: Param[] = [];
  // The final SELECT's: each cooldown's key, to read its last action.
  const results: Param[] = [];
  for (const step of steps) {
    const since = new Date(now.getTime() - step.window * 1000);
    const expiresAt = new Date(now.getTime() + step.window * 1000);
    params.push(step.key, now, now, expiresAt, step.key);
    if (step.kind === 'count') {
      params.push(since, since, since, step.key, step.max ?? null, step.passIfPreviousAtMost ?? null);
    } else {
      params.push(since, step.key);
      results.push(step.key);
    }
  }
  return [...params, ...results, ...read];
}

/**
 * The send limits of risk/code-limits.ts (checkSend): per IP, the resend cooldown, per scope, per
 * identifier, per client; with the id of the user of an email address, which an email send needs next.
 */
export const SEND_CHAIN = chainStatement(['count', 'cooldown', 'count', 'count', 'count'], USER_ID_BY_EMAIL);

/** Runs `steps` (of the kinds of `chain`) and, with `read` (its params), the chain's read. */
export async function runChain(db: Db, chain: Chain, steps: readonly ChainStep[], now = new Date(), read: Param[] = [null]): Promise<ChainRun> {
  if (db.sql.atomically) {
    const statements = chain.read ? [HIT, CLAIM, READ_COUNTER, chain.read] : [HIT, CLAIM, READ_COUNTER];
    return db.sql.atomically(statements, (sql) => ({ steps: chainOnSqlite(sql, steps, now), read: chain.read && sql.one(chain.read, read)?.v }));
  }
  const row = (await db.sql.one(chain, chainParams(steps, now, chain.read ? read : [])))!;
  const results = steps.map((step, i): ChainResult | undefined => {
    if (step.kind === 'count') {
      return row[`n${i}`] === null || row[`n${i}`] === undefined ? undefined : { kind: 'count', count: Number(row[`n${i}`]), windowStart: readDate(row[`s${i}`])! };
    }
    if (step.key === null || (i > 0 && !readBool(row[`r${i}`]))) return undefined;
    return { kind: 'cooldown', claimed: readBool(row[`k${i}`]), lastAt: readDate(row[`l${i}`]) };
  });
  return { steps: results, read: row.v };
}

/** The chain's statement on SQLite: the same gates as chainStatement's, between HIT and CLAIM. */
function chainOnSqlite(sql: SyncSql, steps: readonly ChainStep[], now: Date): (ChainResult | undefined)[] {
  const results: (ChainResult | undefined)[] = [];
  let passed = true;
  for (const step of steps) {
    if (!passed || step.key === null) {
      results.push(undefined);
      continue;
    }
    const previous = results.at(-1);
    if (step.kind === 'count') {
      const row = sql.one(HIT, hitParams(step.key, step.window, now))!;
      const count = Number(row.count);
      results.push({ kind: 'count', count, windowStart: readDate(row.windowStart)! });
      const below = (max: number | null | undefined) => max === null || max === undefined || count <= max;
      const yields = step.passIfPreviousAtMost !== null && step.passIfPreviousAtMost !== undefined && previous?.kind === 'count' && previous.count <= step.passIfPreviousAtMost;
      passed = below(step.max) || yields;
    } else {
      const claimed = sql.one(CLAIM, claimParams(step.key, step.window, now)) !== undefined;
      results.push({ kind: 'cooldown', claimed, lastAt: claimed ? now : readDate(sql.one(READ_COUNTER, [step.key])?.lastAt) });
      passed = claimed;
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
 * Reserves one attempt on the failure streak `key` (kept `keepSeconds`), unless it is blocked:
 * `failures` is the streak including this attempt, and the key is already blocked for
 * `delayFor(failures)` seconds, as if the attempt failed. `clearCounter` undoes it on success.
 */
export async function reserveFailure(db: Db, key: string, keepSeconds: number, delayFor: (failures: number) => number, now = new Date()): Promise<Reservation> {
  const cutoff = now.getTime() - keepSeconds * 1000;
  const blockUntil = (failures: number) => {
    const delay = delayFor(failures);
    return delay > 0 ? new Date(now.getTime() + delay * 1000) : null;
  };
  // Each lost race means another attempt was reserved; a few rounds settle any burst.
  for (let round = 0; round < 50; round++) {
    const row = await readCounter(db, key);
    if (!row) {
      const expiresAt = new Date(now.getTime() + keepSeconds * 1000);
      if (await db.sql.one(START_STREAK, [key, now, now, expiresAt, blockUntil(1)])) return { ok: true, failures: 1 };
      continue;
    }
    const until = readDate(row.blockedUntil)?.getTime() ?? 0;
    if (until > now.getTime()) return { ok: false, retryAfter: Math.ceil((until - now.getTime()) / 1000) };
    const count = Number(row.count);
    const inWindow = readDate(row.windowStart)!.getTime() > cutoff;
    const failures = inWindow ? count + 1 : 1;
    const changed = inWindow
      ? await db.sql.run(NEXT_IN_WINDOW, [failures, now, blockUntil(failures), key, count, now])
      : await db.sql.run(RESTART_WINDOW, [now, now, new Date(now.getTime() + keepSeconds * 1000), blockUntil(1), key, count, now]);
    if (changed === 1) return { ok: true, failures };
  }
  return { ok: false, retryAfter: 1 };
}

export const UNHIT = sqlStatement('UPDATE "Counter" SET "count" = "count" - 1 WHERE "key" = ? AND "count" > 0');

/** Takes back one hit of `hitWindow` (an attempt that turned out not to count). */
export async function unhitWindow(db: Db, key: string): Promise<void> {
  await db.sql.run(UNHIT, [key]);
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
