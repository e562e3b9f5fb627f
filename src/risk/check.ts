// The one door from a limit of limits.ts to the counters: check() turns a limit, its subject and its
// settings into a decision; the helpers beside it keep and read the figures some policies combine.
import type { Db } from '../storage/db.js';
import { claimCooldown, clearCounter, cooldownLeft, hitWindow, readWindow, reserveFailure, unhitWindow, windowStartOf } from '../storage/counters.js';
import type { Limit } from './limits.js';

/**
 * What a limit says about one action. `count` is the hits of the window including this one (the
 * failures of a streak including this attempt; 0 for a cooldown). `delay`: try again later, the
 * action itself is fine (a cooldown, a failure streak's delay); `refuse`: a ceiling was passed.
 * The risk-actions issue grows this union (challenge, review, block).
 */
export type Decision =
  { kind: 'allow'; count: number } | { kind: 'delay'; limit: string; retryAfter: number } | { kind: 'refuse'; limit: string; retryAfter: number; count: number };

/** Counts one action of `subject` against `limit` and decides. A `tally` is always allowed. */
export async function check<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S, settings: P, now = new Date()): Promise<Decision> {
  const key = limit.key(...subject);
  const window = limit.window(settings);
  switch (limit.kind) {
    case 'cooldown': {
      const wait = await claimCooldown(db, key, window, now);
      return wait > 0 ? { kind: 'delay', limit: limit.name, retryAfter: wait } : { kind: 'allow', count: 0 };
    }
    case 'streak': {
      const streak = await reserveFailure(db, key, window, (n) => limit.delay?.(settings, n) ?? 0, now);
      return streak.ok ? { kind: 'allow', count: streak.failures } : { kind: 'delay', limit: limit.name, retryAfter: streak.retryAfter };
    }
    case 'once': {
      const count = await hitWindow(db, key, window, now);
      return count === 1 ? { kind: 'allow', count } : { kind: 'refuse', limit: limit.name, retryAfter: window, count };
    }
    default:
      return countHit(db, limit, key, window, settings, now);
  }
}

async function countHit<P>(db: Db, limit: Limit<never, P>, key: string, window: number, settings: P, now: Date): Promise<Decision> {
  const count = await hitWindow(db, key, window, now);
  if (limit.kind === 'tally' || !limit.max || count <= limit.max(settings)) return { kind: 'allow', count };
  const retryAfter = limit.retry === 'rest of window' ? await restOfWindow(db, key, window, now) : window;
  return { kind: 'refuse', limit: limit.name, retryAfter, count };
}

async function restOfWindow(db: Db, key: string, window: number, now: Date): Promise<number> {
  const started = (await windowStartOf(db, key))?.getTime() ?? now.getTime();
  return Math.max(1, Math.ceil((started + window * 1000 - now.getTime()) / 1000));
}

/** The hits of `subject` in the current window of `limit`, without counting one (0 when none). */
export async function countOf<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S, settings: P, now = new Date()): Promise<number> {
  return readWindow(db, limit.key(...subject), limit.window(settings), now);
}

/** Seconds before a `cooldown` lets `subject` act again, without claiming it. */
export async function waitLeft<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S, settings: P, now = new Date()): Promise<number> {
  return cooldownLeft(db, limit.key(...subject), limit.window(settings), now);
}

/** Forgets everything `limit` counted for `subject` (a streak after a right code, a mark renewed). */
export async function forget<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S): Promise<void> {
  await clearCounter(db, limit.key(...subject));
}

/** Takes back one hit counted by `check` (an attempt that turned out not to count). */
export async function takeBack<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S): Promise<void> {
  await unhitWindow(db, limit.key(...subject));
}
