// The bench's command line (bench/run.ts): its options, checked, with their defaults.
import { parseArgs } from 'node:util';
import { SCENARIOS } from './scenarios.js';
import type { TargetName } from './targets.js';

export const TARGET_NAMES: TargetName[] = ['baseline', 'sqlite', 'postgresql'];
/**
 * OTP grants per second per worker the default otp_grant pool assumes for its first round (later
 * rounds are filled from the rate seen: pools.ts). Above the ~700/s the warm-up used codes at on 2
 * cores with other jobs at 28 %.
 */
export const OTP_GRANTS_PER_SECOND = 800;
/**
 * Warm-up of each target before each scenario's rounds, in seconds. On this 2-core machine under
 * load, req/s of both the baseline and Sesame climbed for about 5-10 s of load (the JIT, the
 * database's caches) before it levelled (see the README's Performance section).
 */
export const WARMUP_S = 10;
/** Rounds each scenario's --duration is measured in, alternating between the targets. */
export const ROUNDS = 5;
/**
 * The MFA rows' sign-ins per second per worker their default pools assume for the first round
 * (later rounds are filled from the rate seen: pools.ts). Each user signs in once, and enrolling one
 * takes five requests and two messages (enrolling took 23 s for 1,200 on a quiet machine). Above
 * the 290/s of a round of mfa_otp on SQLite with few other jobs.
 */
export const MFA_SIGN_INS_PER_SECOND = 300;

/** The warm-up is run in rounds too, as long as the measured ones (or a little shorter). */
export const warmupRounds = (warmup: number, round: number) => Math.ceil(warmup / round - 1e-9);

export class UsageError extends Error {}

/** The options in `args` (the command line's by default); throws UsageError on a wrong one. */
export function options(args = process.argv.slice(2)) {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string' },
      warmup: { type: 'string', default: String(WARMUP_S) },
      rounds: { type: 'string', default: String(ROUNDS) },
      only: { type: 'string' },
      targets: { type: 'string' },
      workers: { type: 'string', default: '1' },
      pool: { type: 'string' },
      'otp-pool': { type: 'string' },
      'mfa-pool': { type: 'string' },
      soak: { type: 'string' },
      from: { type: 'string', default: 'auto' },
      'quiet-wait': { type: 'string', default: '60' },
      'cpu-prof': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(
      `Usage: npm run bench -- [--duration <s> measured per target and scenario] [--connections <n>] [--only ${SCENARIOS.join(',')}]\n` +
        `       [--rounds <n>: the duration in n rounds alternating between the targets; default ${ROUNDS}]\n` +
        `       [--targets ${TARGET_NAMES.join(',')}] [--warmup <s> per target and scenario; default ${WARMUP_S}] [--pool <users per target>] [--from auto|dist|src]\n` +
        '       [--workers 1,2: run each Sesame once per worker count (`serve --workers N`); scaling lines against 1]\n' +
        `       [--otp-pool <codes per target for otp_grant, all made before its warm-up; default: filled before each round to ×1.5 the fastest\n` +
        `        rate seen (${OTP_GRANTS_PER_SECOND}/s × workers assumed for the first round); a round that runs dry is reported (MISS)>]\n` +
        `       [--mfa-pool <enrolled users per target for each of mfa_otp, mfa_oob, mfa_recovery, all made before its warm-up; default: filled\n` +
        `        before each round the same way (${MFA_SIGN_INS_PER_SECOND}/s × workers assumed for the first round)>]\n` +
        '       [--quiet-wait <s>: before each run, wait at most this long for other jobs to leave the CPUs]\n' +
        '       [--cpu-prof: each server writes a V8 CPU profile to bench/results/profiles/]\n' +
        '       npm run bench -- --soak <minutes> [--targets sqlite] [--connections 20] [--workers 1]\n' +
        '       (refresh + userinfo + client_credentials on one Sesame with expiring rows swept; RSS every 10 s)',
    );
    process.exit(0);
  }
  const list = <T extends string>(raw: string | undefined, all: readonly T[], what: string): T[] => {
    if (!raw) return [...all];
    const picked = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const p of picked) if (!all.includes(p as T)) throw new UsageError(`unknown ${what} "${p}" (one of ${all.join(', ')})`);
    return all.filter((a) => picked.includes(a));
  };
  const number = (raw: string, name: string, min: number) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min}`);
    return n;
  };
  const soak = values.soak === undefined ? undefined : number(values.soak, 'soak', 0.1);
  // The soak is a steady load below saturation, on one Sesame.
  const connections = number(values.connections ?? (soak ? '20' : '50'), 'connections', 1);
  const targets = values.targets || !soak ? list(values.targets, TARGET_NAMES, 'target') : (['sqlite'] as TargetName[]);
  const workers = [...new Set(values.workers.split(',').map((w) => number(w.trim(), 'workers', 1)))].sort((a, b) => a - b);
  if (workers.some((w) => !Number.isInteger(w))) throw new UsageError('--workers must be whole numbers, like 1,2');
  if (soak && (targets.length !== 1 || targets[0] === 'baseline' || workers.length !== 1))
    throw new UsageError('--soak runs one Sesame: one of --targets sqlite or postgresql, one --workers count');
  const from = values.from as 'auto' | 'dist' | 'src';
  if (!['auto', 'dist', 'src'].includes(from)) throw new UsageError('--from must be auto, dist or src');
  const duration = number(values.duration, 'duration', 1);
  const warmup = number(values.warmup, 'warmup', 0);
  const rounds = number(values.rounds, 'rounds', 1);
  if (!Number.isInteger(rounds) || duration / rounds < 0.5) throw new UsageError('--rounds must be a whole number, with rounds of at least 0.5 s (--duration / --rounds)');
  return {
    duration,
    rounds,
    connections,
    warmup,
    // Refresh needs a fresh token per connection at any time; a run's requests in flight when it
    // ends are lost (the server consumed the token, nobody reads the rotated one): one per
    // connection at the end of each warm-up round and measured round; two more per connection leave room.
    pool: values.pool ? number(values.pool, 'pool', 1) : Math.max((warmupRounds(warmup, duration / rounds) + rounds + 2) * connections, 30),
    otpPool: values['otp-pool'] ? number(values['otp-pool'], 'otp-pool', 1) : ('auto' as const),
    mfaPool: values['mfa-pool'] ? number(values['mfa-pool'], 'mfa-pool', 1) : ('auto' as const),
    scenarios: list(values.only, SCENARIOS, 'scenario'),
    targets,
    workers,
    soak,
    from,
    quietWait: number(values['quiet-wait'], 'quiet-wait', 0),
    cpuProf: values['cpu-prof'] === true,
  };
}

export type Options = ReturnType<typeof options>;
