// `npm run bench`: Sesame on SQLite, Sesame on PostgreSQL and a bare oidc-provider baseline, one
// after the other on this machine, under the same load; prints a Markdown table and the targets,
// and writes bench/results/latest.json and latest.md. Not a test: numbers depend on the machine.
// With `--soak <minutes>`, a long mixed load on one Sesame instead, into bench/results/soak.*.
//
//   npm run bench -- [--duration <s>] [--connections <n>] [--only <scenario,...>]
//                    [--targets baseline,sqlite,postgresql] [--workers 1,2] [--warmup <s>] [--pool <n>]
//                    [--otp-pool <n>] [--from auto|dist|src] [--quiet-wait <s>] [--cpu-prof]
//   npm run bench -- --soak <minutes> [--targets sqlite] [--connections 20] [--workers 1]
import { rmSync } from 'node:fs';
import { availableParallelism, cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { actionChecks, withActions } from './actions.js';
import { collectCodes, makePool, type Tokens } from './flows.js';
import { handoffChecks } from './handoff.js';
import { startBenchMail, type BenchMail } from './mail.js';
import { enrolMfaUsers, MFA } from './mfa.js';
import { PASSKEY, PASSKEY_USERS, registerPasskeys } from './passkeys.js';
import {
  checksOf,
  labelOf,
  markdownReport,
  markdownTable,
  memoryTable,
  scalingLines,
  scalingOf,
  soakMarkdown,
  warningsOf,
  withRatios,
  writeResults,
  type Report,
  type SoakReport,
} from './report.js';
import { measure, NEEDS_POOL, newState, SCENARIOS, SESAME_ONLY, waitQuiet, type Measurement } from './scenarios.js';
import { soak, SOAK_CONFIG } from './soak.js';
import { generateSigningKeys, makeWorkDir, profiling, ROOT, sesameCommand, startBaselineTarget, startSesameTarget, treeRssMiB, type Target, type TargetName } from './targets.js';

const TARGET_NAMES: TargetName[] = ['baseline', 'sqlite', 'postgresql'];
/**
 * OTP grants per second per worker the default --otp-pool is sized for: each request uses up a
 * code, and asking for codes (a request and a mail each) is slower than using them, so the pool
 * is not made much larger than a run needs. Above the 240/s seen on 2 cores (with other jobs),
 * near refresh's rate on a quiet machine.
 */
const OTP_GRANTS_PER_SECOND = 400;
/** mfa_otp's sign-ins (two grants each) per second per worker the default --mfa-pool is sized for: each user signs in once. */
const MFA_SIGN_INS_PER_SECOND = 150;

class UsageError extends Error {}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string' },
      warmup: { type: 'string', default: '2' },
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
      `Usage: npm run bench -- [--duration <s>] [--connections <n>] [--only ${SCENARIOS.join(',')}]\n` +
        `       [--targets ${TARGET_NAMES.join(',')}] [--warmup <s>] [--pool <users per target>] [--from auto|dist|src]\n` +
        '       [--workers 1,2: run each Sesame once per worker count (`serve --workers N`); scaling lines against 1]\n' +
        `       [--otp-pool <codes per target for otp_grant; default ${OTP_GRANTS_PER_SECOND}/s × workers × (warm-up + duration)>]\n` +
        `       [--mfa-pool <users with an authenticator app per target for mfa_otp; default ${MFA_SIGN_INS_PER_SECOND}/s × workers × (warm-up + duration)>]\n` +
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
  return {
    duration: number(values.duration, 'duration', 1),
    connections,
    warmup: number(values.warmup, 'warmup', 0),
    // Refresh needs a fresh token per connection at any time; a run's requests in flight when it
    // ends are lost (the server consumed the token, nobody reads the rotated one), and so is one
    // per connection at the end of the warm-up: three per connection leaves room.
    pool: values.pool ? number(values.pool, 'pool', 1) : Math.max(3 * connections, 30),
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

type Options = ReturnType<typeof options>;

const say = (line: string) => process.stderr.write(`${line}\n`);

const machine = () => ({ nproc: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${platform()} ${release()}` });
const commandLine = () => ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');

/** What every target of a run is started with, and the one running now (stopped on Ctrl-C). */
interface Bench {
  o: Options;
  mail: BenchMail;
  keys: Awaited<ReturnType<typeof generateSigningKeys>>;
  workDir: string;
  current?: Target;
}

/** Starts a target, hands it to `use`, and stops it whatever happens. */
async function withTarget<T>(b: Bench, name: TargetName, workers: number, config: Record<string, unknown> | undefined, use: (target: Target) => Promise<T>): Promise<T> {
  // The order loadSigningJwks gives Sesame: newest first.
  const baselineJwks = [...b.keys].reverse().map((k) => JSON.parse(k.jwk));
  say(`\n[${labelOf({ target: name, workers })}] starting`);
  const target = (b.current =
    name === 'baseline'
      ? await startBaselineTarget(baselineJwks, b.workDir)
      : await startSesameTarget({ engine: name, keys: b.keys, smtpUrl: b.mail.url, from: b.o.from, workDir: b.workDir, workers, config }));
  try {
    if ('jwks' in target && JSON.stringify(target.jwks) !== JSON.stringify(baselineJwks)) throw new Error('Sesame loaded other signing keys than the baseline');
    return await use(target);
  } finally {
    await target.stop();
    b.current = undefined;
  }
}

async function signedInPool(b: Bench, target: Target): Promise<Tokens[]> {
  const started = performance.now();
  const pool = await makePool(target, b.o.pool, b.mail);
  say(
    `[${labelOf({ target: target.name, workers: target.workers })}] ${pool.length} users signed in through the code flow in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return pool;
}

/** Every scenario on one target; its memory at rest and at its peak. */
async function measureTarget(b: Bench, target: Target): Promise<{ measurements: Measurement[]; memory: Report['memory'][number] }> {
  const { o } = b;
  const label = labelOf({ target: target.name, workers: target.workers });
  const idleMiB = treeRssMiB(target.pid);
  const scenarios = o.scenarios.filter((s) => target.sesame || !SESAME_ONLY.has(s));
  const state = newState(scenarios.some((s) => NEEDS_POOL.has(s)) ? await signedInPool(b, target) : []);
  const measurements: Measurement[] = [];
  for (const scenario of scenarios) {
    if (scenario === 'otp_grant') {
      const size = o.otpPool === 'auto' ? Math.ceil(OTP_GRANTS_PER_SECOND * target.workers * (o.warmup + o.duration)) : o.otpPool;
      const started = performance.now();
      state.otpCodes = await collectCodes(target, size, b.mail);
      say(`[${label}] ${size} codes asked for through /passwordless/start and read from the mail in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    if (scenario === MFA) {
      const size = o.mfaPool === 'auto' ? Math.ceil(MFA_SIGN_INS_PER_SECOND * target.workers * (o.warmup + o.duration)) : o.mfaPool;
      const started = performance.now();
      state.mfaUsers = await enrolMfaUsers(target, size, b.mail);
      say(`[${label}] ${size} users enrolled an authenticator app through the MFA API, and got a code each, in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    if (scenario === PASSKEY) {
      const started = performance.now();
      state.passkeys = await registerPasskeys(target, PASSKEY_USERS);
      say(`[${label}] ${PASSKEY_USERS} users signed up with a passkey through /passkey/register in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    if (o.quietWait > 0 && !(await waitQuiet(o.quietWait))) say(`[${label}] the machine is busy with other jobs; measuring anyway`);
    const m = await withActions(target, scenario, () => measure(target, scenario, state, b.mail, o));
    measurements.push(m);
    const dry = m.poolDry ? `, ${m.poolDry} with the pool dry` : '';
    const failure = m.failure ? ` (first failure: ${m.failure})` : '';
    say(
      `[${label}] ${scenario.padEnd(18)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50.toFixed(0)} ms  p99 ${m.p99.toFixed(0)} ms  errors ${m.errors}  non-2xx ${m.non2xx}${dry}  cpu ${m.cpu.toFixed(0)}% (others ${m.otherCpu.toFixed(0)}%)  rss ${m.rssPeakMiB.toFixed(0)} MiB${failure}`,
    );
  }
  return { measurements, memory: { target: target.name, workers: target.workers, idleMiB, peakMiB: Math.max(idleMiB, ...measurements.map((m) => m.rssPeakMiB)) } };
}

async function runScenarios(b: Bench): Promise<void> {
  const { o } = b;
  say(`sesame from ${sesameCommand(o.from).from}; ${o.connections} connections, ${o.duration} s per run (+${o.warmup} s warm-up)`);
  const measurements: Measurement[] = [];
  const memory: Report['memory'] = [];
  for (const name of o.targets) {
    for (const workers of name === 'baseline' ? [1] : o.workers) {
      const measured = await withTarget(b, name, workers, undefined, (target) => measureTarget(b, target));
      measurements.push(...measured.measurements);
      memory.push(measured.memory);
    }
  }
  const rows = withRatios(measurements);
  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    command: commandLine(),
    options: { duration: o.duration, connections: o.connections, warmup: o.warmup, pool: o.pool, otpPool: o.otpPool, workers: o.workers, only: o.scenarios, targets: o.targets },
    sesameFrom: sesameCommand(o.from).from,
    rows,
    memory,
    scaling: scalingOf(rows),
    checks: [...actionChecks(rows, o.connections), ...handoffChecks(rows), ...checksOf(rows, memory)],
    warnings: warningsOf(rows),
  };
  writeResults(join(ROOT, 'bench/results'), 'latest', report, markdownReport(report));
  console.log(`\n${markdownTable(rows)}\n`);
  console.log(memoryTable(memory));
  console.log('');
  for (const line of scalingLines(report.scaling)) console.log(line);
  for (const check of report.checks) console.log(`${check.pass ? 'PASS' : 'MISS'}  ${check.what}`);
  for (const warning of report.warnings) console.log(`WARN  ${warning}`);
  const missed = report.checks.filter((c) => !c.pass).length;
  console.log(`\n${report.checks.length - missed} PASS, ${missed} MISS — bench/results/latest.md, latest.json`);
}

async function runSoak(b: Bench, minutes: number): Promise<void> {
  const { o } = b;
  const name = o.targets[0] as Exclude<TargetName, 'baseline'>;
  say(`sesame from ${sesameCommand(o.from).from}; soak of ${minutes} min, ${o.connections} connections`);
  const report: SoakReport = await withTarget(b, name, o.workers[0]!, SOAK_CONFIG, async (target) => {
    const pool = await signedInPool(b, target);
    if (o.quietWait > 0 && !(await waitQuiet(o.quietWait))) say('[soak] the machine is busy with other jobs; soaking anyway');
    return {
      date: new Date().toISOString(),
      machine: machine(),
      command: commandLine(),
      sesameFrom: sesameCommand(o.from).from,
      target: name,
      workers: target.workers,
      ...(await soak(target, pool, minutes, o.connections, say)),
    };
  });
  const markdown = soakMarkdown(report);
  writeResults(join(ROOT, 'bench/results'), 'soak', report, markdown);
  console.log(`\n${markdown}`);
  const missed = report.checks.filter((c) => !c.pass).length;
  console.log(`${report.checks.length - missed} PASS, ${missed} MISS — bench/results/soak.md, soak.json`);
}

async function main() {
  const o = options();
  const b: Bench = { o, mail: await startBenchMail(), keys: await generateSigningKeys(), workDir: makeWorkDir() };
  if (o.cpuProf) profiling.dir = join(ROOT, 'bench/results/profiles');
  const interrupted = () => {
    say('interrupted: stopping the server under test');
    void (b.current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    if (o.soak) await runSoak(b, o.soak);
    else await runScenarios(b);
  } finally {
    await b.mail.close();
    rmSync(b.workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  const usage = err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
  console.error(`bench: ${usage ? `${(err as Error).message} (npm run bench -- --help)` : ((err as Error).stack ?? String(err))}`);
  process.exit(1);
});
