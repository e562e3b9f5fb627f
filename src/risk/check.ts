// The one door from a limit of limits.ts to the counters: check() turns a limit, its subject and its
// settings into a decision; the helpers beside it keep and read the figures some policies combine.
import type { Db } from '../storage/db.js';
import {
  claimCooldown,
  clearAndUnhit,
  clearCounter,
  cooldownLeft,
  countWindow,
  hitWindow,
  readWindow,
  reserveFailure,
  restartWindow,
  unhitWindow,
  windowStartOf,
} from '../storage/counters.js';
import { runChain, type Chain, type ChainResult } from '../storage/counter-chains.js';
import { backoffDelay } from '../storage/backoff.js';
import type { Param } from '../storage/sql.js';
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
      const backoff = limit.backoff?.(settings) ?? { free: 0, max: 0 };
      const streak = await reserveFailure(db, key, window, (n) => backoffDelay(backoff, n), now);
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

/**
 * One limit of a chain: checked only when every link before it let the action through.
 * `enforced: false` counts without ever stopping the chain (a ceiling that does not
 * apply to this requester); past its ceiling a link still lets the chain on when the link before
 * it counted at most `passIfPreviousAtMost`. `whenTrusted`: the subject when the chain's trust mark
 * is there (null: the link is skipped then).
 */
export interface Link {
  limit: Limit<never, never>;
  subject: unknown[];
  settings: unknown;
  enforced?: boolean;
  passIfPreviousAtMost?: number;
  whenTrusted?: unknown[] | null;
}

/** A link of `limit` for `subject` (typed as check()'s arguments are). */
export function link<S extends unknown[], P>(
  limit: Limit<S, P>,
  subject: S,
  settings: P,
  options: Pick<Link, 'enforced' | 'passIfPreviousAtMost'> & { whenTrusted?: S | null } = {},
): Link {
  return { limit: limit as unknown as Link['limit'], subject, settings, ...options };
}

/**
 * The decisions of a chain's links (undefined for those not checked), the link that stopped it, if
 * any, the chain's read, and whether its trust mark was there.
 */
export interface ChainOutcome {
  decisions: (Decision | undefined)[];
  stoppedAt?: number;
  read: unknown;
  trusted: boolean;
}

/**
 * Checks `links` in order, each counted only when the ones before let the action through (see
 * Link), all at once (storage/counter-chains.ts runChain): `chain`'s first kinds are the links' limits',
 * the rest and the holes (undefined) are skipped. `read`: the params of the chain's read
 * (storage/counter-chains.ts ChainRead). `trust`: the mark (a `tally` with a hit in its window) that puts
 * the links on their `whenTrusted` subjects, in a chain that reads one.
 */
export async function checkChain(db: Db, chain: Chain, links: readonly (Link | undefined)[], now = new Date(), read?: Param[], trust?: Link): Promise<ChainOutcome> {
  const keyOf = (link: Link, subject: unknown[]) => (link.limit.key as (...s: unknown[]) => string)(...subject);
  const stops = (i: number, decision: Decision, decisions: (Decision | undefined)[]) => {
    const link = links[i]!;
    if (decision.kind === 'allow' || link.enforced === false) return false;
    const before = decisions[i - 1];
    return !(link.passIfPreviousAtMost !== undefined && before?.kind === 'allow' && before.count <= link.passIfPreviousAtMost);
  };
  const decisions: (Decision | undefined)[] = [];
  const run = await runChain(
    db,
    chain,
    chain.kinds.map((kind, i) => {
      const link = links[i];
      if (!link) return { kind, key: null, window: 0 };
      const counts = link.limit.kind === 'count' || link.limit.kind === 'tally';
      if (kind !== (counts ? 'count' : link.limit.kind)) throw new Error(`limit ${link.limit.name} is not a ${kind} step of its chain`);
      return {
        kind,
        key: keyOf(link, link.subject),
        trustedKey: link.whenTrusted === undefined ? undefined : link.whenTrusted && keyOf(link, link.whenTrusted),
        window: link.limit.window(link.settings as never),
        max: link.enforced === false || !link.limit.max ? null : link.limit.max(link.settings as never),
        passIfPreviousAtMost: link.passIfPreviousAtMost ?? null,
        backoff: link.limit.backoff?.(link.settings as never),
      };
    }),
    now,
    read,
    trust && { key: keyOf(trust, trust.subject), window: trust.limit.window(trust.settings as never) },
  );
  const outcome = { decisions, read: run.read, trusted: run.trusted };
  for (const [i, link] of links.entries()) {
    const result = run.steps[i];
    decisions.push(result && link && decide(link, result, now));
    if (decisions[i] && stops(i, decisions[i], decisions)) return { ...outcome, stoppedAt: i };
  }
  return outcome;
}

/** The decision check() would have made for what a chain's step found. */
function decide(link: Link, result: ChainResult, now: Date): Decision {
  const { limit } = link;
  const window = limit.window(link.settings as never);
  if (result.kind === 'streak') {
    if (result.reserved) return { kind: 'allow', count: result.count };
    // Not blocked after all (a right code cleared it meanwhile): try again at once, as reserveFailure after its rounds.
    const until = result.blockedUntil?.getTime() ?? 0;
    return { kind: 'delay', limit: limit.name, retryAfter: until > now.getTime() ? Math.ceil((until - now.getTime()) / 1000) : 1 };
  }
  if (result.kind === 'cooldown') {
    if (result.claimed) return { kind: 'allow', count: 0 };
    const last = result.lastAt?.getTime() ?? now.getTime();
    return { kind: 'delay', limit: limit.name, retryAfter: Math.max(1, Math.ceil((last + window * 1000 - now.getTime()) / 1000)) };
  }
  const { count } = result;
  if (limit.kind === 'tally' || !limit.max || count <= limit.max(link.settings as never)) return { kind: 'allow', count };
  const retryAfter = limit.retry === 'rest of window' ? Math.max(1, Math.ceil((result.windowStart.getTime() + window * 1000 - now.getTime()) / 1000)) : window;
  return { kind: 'refuse', limit: limit.name, retryAfter, count };
}

async function countHit<P>(db: Db, limit: Limit<never, P>, key: string, window: number, settings: P, now: Date): Promise<Decision> {
  const count = await countWindow(db, key, window, now);
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

/** Forgets everything `limit` counted for `subject` (a streak after a right code). */
export async function forget<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S): Promise<void> {
  await clearCounter(db, limit.key(...subject));
}

/** forget() then check() of a `count` or `tally` in one statement: its window starts over at this hit (a mark renewed). */
export async function renew<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S, settings: P, now = new Date()): Promise<void> {
  await restartWindow(db, limit.key(...subject), limit.window(settings), now);
}

/** forget() of `forgotten`'s subject and takeBack() of `takenBack`'s, committed together (one statement on PostgreSQL). */
export async function forgetAndTakeBack<S extends unknown[], T extends unknown[], P, Q>(
  db: Db,
  forgotten: [limit: Limit<S, P>, subject: S],
  takenBack: [limit: Limit<T, Q>, subject: T],
): Promise<void> {
  await clearAndUnhit(db, forgotten[0].key(...forgotten[1]), takenBack[0].key(...takenBack[1]));
}

/** Takes back one hit counted by `check` (an attempt that turned out not to count). */
export async function takeBack<S extends unknown[], P>(db: Db, limit: Limit<S, P>, subject: S): Promise<void> {
  await unhitWindow(db, limit.key(...subject));
}
