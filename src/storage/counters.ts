// Counters shared by every instance through the database: fixed-window hits, cooldowns and
// failure streaks. Each change is one statement, so parallel requests cannot both win.
import type { Db } from './db.js';
import type { Counter } from './generated/sqlite/client.js';
import { readDate, sqlBatch, sqlStatement, type Param, type RawRow, type Statement } from './sql.js';

// hitWindow and claimCooldown run on every code sent and every code tried, several times: each is
// one upsert through sql.ts (atomic on both engines: SET sees the row as it was before the update).
export const HIT_SET =
  '"count" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."count" + 1 ELSE 1 END, ' +
  '"windowStart" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."windowStart" ELSE excluded."windowStart" END, ' +
  '"expiresAt" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."expiresAt" ELSE excluded."expiresAt" END, ' +
  '"lastAt" = excluded."lastAt"';
export const HIT = sqlStatement<RawRow<Counter, 'count' | 'windowStart'>>(
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") VALUES (?, 1, ?, ?, ?) ' +
    `ON CONFLICT ("key") DO UPDATE SET ${HIT_SET} RETURNING "count", "windowStart"`,
);

/**
 * The first CTE of a PostgreSQL statement whose commit does not wait for the WAL flush (it must be
 * referenced to run; set_config(..., true) holds for the statement's own transaction, and the
 * connection keeps its setting). For the limits' counts: every request from one IP, for one client
 * or one tenant updates the same counter row and holds its lock until its commit, so at load,
 * waiting for each flush in turn queued them all behind one another (passwordless_start on
 * PostgreSQL, side by side: 625 starts/s, p99 177 ms; 800/s, p99 138 ms relaxed). A crash of the
 * database can lose the last moments of counts, nothing else: these statements write counters only, a code's own
 * attempts (SPEND_ATTEMPT) commit durably, and so does a replay's marker (`once`: hitWindow).
 */
export const RELAXED = "relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS commit)";
export const HIT_RELAXED = sqlStatement<RawRow<Counter, 'count' | 'windowStart'>>(
  `WITH ${RELAXED} INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") SELECT ?::text, 1, ?::timestamp(3), ?::timestamp(3), ?::timestamp(3) FROM relaxed ` +
    `ON CONFLICT ("key") DO UPDATE SET ${HIT_SET} RETURNING "count", "windowStart"`,
  ['postgresql'],
);

export function hitParams(key: string, windowSeconds: number, now: Date): Param[] {
  const cutoff = new Date(now.getTime() - windowSeconds * 1000);
  const expiresAt = new Date(now.getTime() + windowSeconds * 1000);
  return [key, now, now, expiresAt, cutoff, cutoff, cutoff];
}

/** Counts one hit in the current window of `windowSeconds`; returns the count including it. */
export async function hitWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const row = await db.sql.one(HIT, hitParams(key, windowSeconds, now));
  return Number(row!.count);
}

/** hitWindow for a rate limit's count: on PostgreSQL its commit does not wait for the flush (RELAXED). */
export async function countWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const row = await db.sql.one(db.provider === 'postgresql' ? HIT_RELAXED : HIT, hitParams(key, windowSeconds, now));
  return Number(row!.count);
}

// Takes the cooldown only when the last action is old enough; otherwise the upsert changes nothing
// and returns no row.
export const CLAIM = sqlStatement(
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") VALUES (?, 0, ?, ?, ?) ' +
    'ON CONFLICT ("key") DO UPDATE SET "lastAt" = excluded."lastAt", "expiresAt" = excluded."expiresAt" WHERE "Counter"."lastAt" <= ? ' +
    'RETURNING "key"',
);

// Reads of one counter (a window's count, a cooldown's last action, a streak's block), on the code
// paths too (the hosted pages' trusted-browser check, the SMS guard), so prepared like the writes.
export const READ_COUNTER = sqlStatement<RawRow<Counter, 'count' | 'windowStart' | 'lastAt' | 'blockedUntil'>>(
  'SELECT "count", "windowStart", "lastAt", "blockedUntil" FROM "Counter" WHERE "key" = ?',
);
export const DELETE_COUNTER = sqlStatement('DELETE FROM "Counter" WHERE "key" = ?');

export function readCounter(db: Db, key: string) {
  return db.sql.one(READ_COUNTER, [key]);
}

export function claimParams(key: string, cooldownSeconds: number, now: Date): Param[] {
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
export function nextReservation(
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
