// Counters shared by every instance through the database: fixed-window hits, cooldowns and
// failure streaks. Each change is one conditional UPDATE, so parallel requests cannot both win.
import type { Db } from './db.js';

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === 'P2002';

/** Counts one hit in the current window of `windowSeconds`; returns the count including it. */
export async function hitWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const c = db.prisma.counter;
  const cutoff = new Date(now.getTime() - windowSeconds * 1000);
  const expiresAt = new Date(now.getTime() + windowSeconds * 1000);
  for (let attempt = 0; attempt < 3; attempt++) {
    const inc = await c.updateMany({ where: { key, windowStart: { gt: cutoff } }, data: { count: { increment: 1 }, lastAt: now } });
    if (inc.count === 1) {
      const row = await c.findUnique({ where: { key }, select: { count: true } });
      return row?.count ?? 1;
    }
    const restarted = await c.updateMany({
      where: { key, windowStart: { lte: cutoff } },
      data: { count: 1, windowStart: now, lastAt: now, expiresAt },
    });
    if (restarted.count === 1) return 1;
    try {
      await c.create({ data: { key, count: 1, windowStart: now, lastAt: now, expiresAt } });
      return 1;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
  throw new Error(`counter ${key.split(':')[0]} kept changing under us`);
}

/** The count of `key` in its current window of `windowSeconds` (0 when none). */
export async function readWindow(db: Db, key: string, windowSeconds: number, now = new Date()): Promise<number> {
  const row = await db.prisma.counter.findUnique({ where: { key }, select: { count: true, windowStart: true } });
  return row && row.windowStart.getTime() > now.getTime() - windowSeconds * 1000 ? row.count : 0;
}

/** Claims the right to act once per `cooldownSeconds`; returns 0 when claimed, else seconds to wait. */
export async function claimCooldown(db: Db, key: string, cooldownSeconds: number, now = new Date()): Promise<number> {
  const c = db.prisma.counter;
  const since = new Date(now.getTime() - cooldownSeconds * 1000);
  const expiresAt = new Date(now.getTime() + cooldownSeconds * 1000);
  const claimed = await c.updateMany({ where: { key, lastAt: { lte: since } }, data: { lastAt: now, expiresAt } });
  if (claimed.count === 1) return 0;
  try {
    await c.create({ data: { key, count: 0, windowStart: now, lastAt: now, expiresAt } });
    return 0;
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  const row = await c.findUnique({ where: { key }, select: { lastAt: true } });
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
