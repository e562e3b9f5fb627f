// Counters shared by every instance through the database: fixed-window hits, cooldowns and
// failure streaks. Each change is one statement, so parallel requests cannot both win.
import type { Db } from './db.js';

// hitWindow and claimCooldown run on every code sent and every code tried, several times: each is
// one upsert through sql.ts (atomic on both engines: SET sees the row as it was before the update).
const HIT =
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") VALUES (?, 1, ?, ?, ?) ' +
  'ON CONFLICT ("key") DO UPDATE SET ' +
  '"count" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."count" + 1 ELSE 1 END, ' +
  '"windowStart" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."windowStart" ELSE excluded."windowStart" END, ' +
  '"expiresAt" = CASE WHEN "Counter"."windowStart" > ? THEN "Counter"."expiresAt" ELSE excluded."expiresAt" END, ' +
  '"lastAt" = excluded."lastAt" ' +
  'RETURNING "count"';

/** Counts one hit in the current window of `windowSeconds`; returns the count including it. */
export async function hitWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - windowSeconds * 1000);
  const expiresAt = new Date(now.getTime() + windowSeconds * 1000);
  const row = await db.sql.one<{ count: number }>(HIT, [key, now, now, expiresAt, cutoff, cutoff, cutoff]);
  return Number(row!.count);
}

// Takes the cooldown only when the last action is old enough; otherwise the upsert changes nothing
// and returns no row.
const CLAIM =
  'INSERT INTO "Counter" ("key", "count", "windowStart", "lastAt", "expiresAt") VALUES (?, 0, ?, ?, ?) ' +
  'ON CONFLICT ("key") DO UPDATE SET "lastAt" = excluded."lastAt", "expiresAt" = excluded."expiresAt" WHERE "Counter"."lastAt" <= ? ' +
  'RETURNING "key"';

/** The count of `key` in its current window of `windowSeconds` (0 when none). */
export async function readWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const row = await db.prisma.counter.findUnique({ where: { key }, select: { count: true, windowStart: true } });
  return row && row.windowStart.getTime() > now.getTime() - windowSeconds * 1000 ? row.count : 0;
}

/** Claims the right to act once per `cooldownSeconds`; returns 0 when claimed, else seconds to wait. */
export async function claimCooldown(db: Db, key: string, cooldownSeconds: number, now = new Date()): Promise<number> {
  const since = new Date(now.getTime() - cooldownSeconds * 1000);
  const expiresAt = new Date(now.getTime() + cooldownSeconds * 1000);
  if (await db.sql.one(CLAIM, [key, now, now, expiresAt, since])) return 0;
  const row = await db.prisma.counter.findUnique({ where: { key }, select: { lastAt: true } });
  const last = row?.lastAt?.getTime() ?? now.getTime();
  return Math.max(1, Math.ceil((last + cooldownSeconds * 1000 - now.getTime()) / 1000));
}

/** Seconds left before `key` may act again after `claimCooldown`, without claiming. */
export async function cooldownLeft(db: Db, key: string, cooldownSeconds: number, now = new Date()): Promise<number> {
  const row = await db.prisma.counter.findUnique({ where: { key }, select: { lastAt: true } });
  if (!row?.lastAt) return 0;
  return Math.max(0, Math.ceil((row.lastAt.getTime() + cooldownSeconds * 1000 - now.getTime()) / 1000));
}

/** Adds a failure to a streak kept for `keepSeconds`; `delayFor(n)` sets how long the key is blocked. */
export async function recordFailure(
  db: Db,
  key: string,
  keepSeconds: number,
  delayFor: (failures: number) => number,
  now = new Date(),
): Promise<number> {
  const failures = await hitWindow(db, key, keepSeconds, now);
  const delay = delayFor(failures);
  if (delay > 0) {
    await db.prisma.counter.updateMany({ where: { key }, data: { blockedUntil: new Date(now.getTime() + delay * 1000) } });
  }
  return failures;
}

/** Seconds `key` is still blocked for (0 when free). */
export async function blockedFor(db: Db, key: string, now = new Date()): Promise<number> {
  const row = await db.prisma.counter.findUnique({ where: { key }, select: { blockedUntil: true } });
  const until = row?.blockedUntil?.getTime() ?? 0;
  return until > now.getTime() ? Math.ceil((until - now.getTime()) / 1000) : 0;
}

export async function clearCounter(db: Db, key: string): Promise<void> {
  await db.prisma.counter.deleteMany({ where: { key } });
}

export async function sweepCounters(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.counter.deleteMany({ where: { expiresAt: { lte: now }, OR: [{ blockedUntil: null }, { blockedUntil: { lte: now } }] } });
  return count;
}
