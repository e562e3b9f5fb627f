// The single-use things some scenarios consume, one a request or a sign-in: otp_grant's email codes
// and the MFA rows' enrolled users (each signs in once). A pool sized in advance from an assumed rate
// ran dry once the server got faster (otp_grant on SQLite, 7,289 refused requests), so each pool is
// filled before every round, warm-up or measured, to MARGIN × the fastest rate seen so far on that
// server × the round's length. A round that ran dry counts its rate up to the moment it did. Only
// the first round relies on the assumed rate, and the first warm-up round for a part of its length
// only: running dry there shortens a warm-up, while making users on a busy machine took minutes
// (2.5 MFA enrolments/s with others at 180 %). Filling happens between rounds, outside what is
// sampled. A measured round that runs dry all the same is counted (poolDry) and printed MISS.
import { collectCodes } from './flows.js';
import type { BenchMail } from './mail.js';
import { enrolMfaUsers, isMfaRow } from './mfa.js';
import { MFA_SIGN_INS_PER_SECOND, OTP_GRANTS_PER_SECOND, type Options } from './options.js';
import type { Load } from './loop.js';
import { labelOf } from './report.js';
import type { Scenario, State } from './scenarios.js';
import type { Target } from './targets.js';

/** Room above the fastest rate seen: a warmer server or a quieter machine goes faster. */
export const MARGIN = 1.5;
/** A round that ran dry may have sped up after: its rate (up to then) is taken as this much more. */
export const DRY_FACTOR = 2;
/** The share of the first warm-up round its pool is filled for at the assumed rate. */
export const FIRST_WARMUP_SHARE = 0.25;

interface Pool {
  /** The rate assumed before any round was seen, per worker. */
  perSecond: number;
  /** The fixed size of `--otp-pool` / `--mfa-pool`, or auto. */
  fixed(o: Options): number | 'auto';
  left(state: State): unknown[];
  fill(target: Target, size: number, mail: BenchMail, state: State): Promise<string>;
}

function poolOf(scenario: Scenario): Pool | undefined {
  if (scenario === 'otp_grant')
    return {
      perSecond: OTP_GRANTS_PER_SECOND,
      fixed: (o) => o.otpPool,
      left: (state) => state.otpCodes,
      async fill(target, size, mail, state) {
        state.otpCodes.push(...(await collectCodes(target, size, mail)));
        return `${size} codes asked for through /passwordless/start and read from the mail`;
      },
    };
  if (isMfaRow(scenario))
    return {
      perSecond: MFA_SIGN_INS_PER_SECOND,
      fixed: (o) => o.mfaPool,
      left: (state) => state.mfaUsers[scenario],
      async fill(target, size, mail, state) {
        state.mfaUsers[scenario].push(...(await enrolMfaUsers(target, size, mail, scenario)));
        return `${size} users enrolled ${scenario === 'mfa_oob' ? 'an email factor (after a text)' : 'an authenticator app'} through the MFA API, and got a code each`;
      },
    };
  return undefined;
}

export const hasPool = (scenario: Scenario) => poolOf(scenario) !== undefined;

/** How many to add so that `left` lasts a round of `seconds` at MARGIN × `rate` (per second), with one per connection in flight. */
export function shortfall(left: number, rate: number, seconds: number, connections: number): number {
  return Math.max(0, Math.ceil(rate * seconds * MARGIN) + connections - left);
}

/** The rate a round used its pool at, per second: more than it shows when it ran dry. */
export function rateOf(used: number, seconds: number, ranDry: boolean): number {
  return seconds > 0 ? (used / seconds) * (ranDry ? DRY_FACTOR : 1) : 0;
}

/**
 * A scenario's load on one target with its pool kept full: `fill(seconds)` before each round of
 * that length, then `load(seconds)`, which learns the rate. Without a pool both pass through.
 */
export function pooled(target: Target, scenario: Scenario, state: State, o: Options, mail: BenchMail, load: (seconds: number) => Promise<Load>, say: (line: string) => void) {
  const pool = poolOf(scenario);
  let rate = pool ? pool.perSecond * target.workers : 0;
  let seen = false;
  let filledFixed = false;
  return {
    /** Fills the pool for a round of `seconds`, a measured one or not. */
    async fill(seconds: number, measured: boolean): Promise<void> {
      if (!pool) return;
      const fixed = pool.fixed(o);
      const share = seen || measured ? 1 : FIRST_WARMUP_SHARE;
      // A fixed pool is filled once: to show what a pool of that size does.
      const size = fixed === 'auto' ? shortfall(pool.left(state).length, rate, seconds * share, o.connections) : filledFixed ? 0 : fixed;
      filledFixed = true;
      if (size === 0) return;
      const started = performance.now();
      const what = await pool.fill(target, size, mail, state);
      const basis = fixed !== 'auto' ? 'fixed by option' : seen ? `${rate.toFixed(0)}/s seen` : `${rate.toFixed(0)}/s assumed`;
      say(`[${labelOf({ target: target.name, workers: target.workers })}] ${scenario}: ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s (${basis})`);
    },
    async load(seconds: number): Promise<Load> {
      if (!pool) return load(seconds);
      const before = pool.left(state).length;
      const dryBefore = state.dry;
      state.dryAt = undefined;
      const started = performance.now();
      const result = await load(seconds);
      const ranDry = state.dry > dryBefore;
      const used = before - pool.left(state).length;
      const now = rateOf(used, ranDry && state.dryAt !== undefined ? (state.dryAt - started) / 1000 : result.seconds, ranDry);
      rate = seen ? Math.max(rate, now) : now;
      seen = true;
      return result;
    },
  };
}
