// `npm run bench`: Sesame on SQLite, Sesame on PostgreSQL and a bare oidc-provider baseline on this
// machine, under the same load, each scenario's measured rounds alternating between them; prints a
// Markdown table and the targets, and writes bench/results/latest.json and latest.md. Not a test:
// numbers depend on the machine.
// With `--soak <minutes>`, a long mixed load on one Sesame instead, into bench/results/soak.*.
//
//   npm run bench -- [--duration <s>] [--rounds <n>] [--connections <n>] [--only <scenario,...>]
//                    [--targets baseline,sqlite,postgresql] [--workers 1,2] [--warmup <s>] [--pool <n>]
//                    [--otp-pool <n>] [--mfa-pool <n>] [--from auto|dist|src] [--quiet-wait <s>] [--cpu-prof]
//   npm run bench -- --soak <minutes> [--targets sqlite] [--connections 20] [--workers 1]
import { rmSync } from 'node:fs';
import { availableParallelism, cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { actionChecks, PLAIN_OF, policyOff, policyOn } from './actions.js';
import { makePool, type Tokens } from './flows.js';
import { handoffChecks } from './handoff.js';
import { options, UsageError, warmupRounds, type Options } from './options.js';
import { startBenchMail, type BenchMail } from './mail.js';
import { PASSKEY, PASSKEY_USERS, registerPasskeys } from './passkeys.js';
import { pooled } from './pools.js';
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
import type { Load } from './loop.js';
import { combine, loadOf, NEEDS_POOL, newState, sampled, SESAME_ONLY, waitQuiet, type Measurement, type Round, type Scenario, type State } from './scenarios.js';
import { soak, SOAK_CONFIG } from './soak.js';
import { generateSigningKeys, makeWorkDir, profiling, ROOT, sesameCommand, startBaselineTarget, startSesameTarget, treeRssMiB, type Target, type TargetName } from './targets.js';

const say = (line: string) => process.stderr.write(`${line}\n`);

const machine = () => ({ nproc: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${platform()} ${release()}` });
const commandLine = () => ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ');

/** What every target of a run is started with, and those running now (stopped on Ctrl-C). */
interface Bench {
  o: Options;
  mail: BenchMail;
  keys: Awaited<ReturnType<typeof generateSigningKeys>>;
  workDir: string;
  running: Set<Target>;
}

/** Starts a target; stop it with stopTarget. */
async function startTarget(b: Bench, name: TargetName, workers: number, config?: Record<string, unknown>): Promise<Target> {
  // The order loadSigningJwks gives Sesame: newest first.
  const baselineJwks = [...b.keys].reverse().map((k) => JSON.parse(k.jwk));
  say(`\n[${labelOf({ target: name, workers })}] starting`);
  const target =
    name === 'baseline'
      ? await startBaselineTarget(baselineJwks, b.workDir)
      : await startSesameTarget({ engine: name, keys: b.keys, smtpUrl: b.mail.url, smsUrl: b.mail.smsUrl, from: b.o.from, workDir: b.workDir, workers, config });
  b.running.add(target);
  if ('jwks' in target && JSON.stringify(target.jwks) !== JSON.stringify(baselineJwks)) {
    await stopTarget(b, target);
    throw new Error('Sesame loaded other signing keys than the baseline');
  }
  return target;
}

async function stopTarget(b: Bench, target: Target): Promise<void> {
  await target.stop();
  b.running.delete(target);
}

/** Starts a target, hands it to `use`, and stops it whatever happens. */
async function withTarget<T>(b: Bench, name: TargetName, workers: number, config: Record<string, unknown> | undefined, use: (target: Target) => Promise<T>): Promise<T> {
  const target = await startTarget(b, name, workers, config);
  try {
    return await use(target);
  } finally {
    await stopTarget(b, target);
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

/** The passkeys and policy a scenario needs on a target, made before its warm-up (pools fill before each round: pools.ts). */
async function prepare(target: Target, scenario: Scenario, state: State): Promise<void> {
  const label = labelOf({ target: target.name, workers: target.workers });
  const started = performance.now();
  const took = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  if (scenario === PASSKEY) {
    state.passkeys = await registerPasskeys(target, PASSKEY_USERS);
    say(`[${label}] ${PASSKEY_USERS} users signed up with a passkey through /passkey/register in ${took()}`);
  }
  await policyOn(target, scenario);
}

/** One target's view of a scenario: what it runs, and the rounds measured so far. */
interface Side {
  target: Target;
  scenario: Scenario;
  state: State;
  /** Tops up the scenario's pool (if it has one) for a round of that length, measured or not. */
  fill: (seconds: number, measured: boolean) => Promise<void>;
  load: (seconds: number) => Promise<Load>;
  rounds: Round[];
}

const describe = (m: Measurement) => {
  const dry = m.poolDry ? `, ${m.poolDry} with the pool dry` : '';
  const failure = m.failure ? ` (first failure: ${m.failure})` : '';
  const rounds = m.rounds.map((r) => r.toFixed(0)).join('/');
  return `${m.scenario.padEnd(18)} ${m.rps.toFixed(0).padStart(6)} req/s (rounds ${rounds})  p50 ${m.p50.toFixed(0)} ms  p99 ${m.p99.toFixed(0)} ms  errors ${m.errors}  non-2xx ${m.non2xx}${dry}  cpu ${m.cpu.toFixed(0)}% (others ${m.otherCpu.toFixed(0)}%)  rss ${m.rssPeakMiB.toFixed(0)} MiB${failure}`;
};

/**
 * One scenario on every target that has it: their warm-up rounds, then their measured rounds
 * alternate (A B C A B C ...), so that what drifts meanwhile (other jobs on the machine, tables growing)
 * weighs on every side alike. A scenario compared with another on the same server (PLAIN_OF:
 * code_flow_risk with code_flow) has that one as a further side on each Sesame, reported apart.
 */
async function measureScenario(b: Bench, targets: Target[], states: Map<Target, State>, scenario: Scenario): Promise<{ rows: Measurement[]; plain: Report['beside'] }> {
  const { o } = b;
  const sides: Side[] = [];
  const plainOf = PLAIN_OF[scenario];
  for (const target of targets.filter((t) => t.sesame || !SESAME_ONLY.has(scenario))) {
    const state = states.get(target)!;
    await prepare(target, scenario, state);
    for (const s of plainOf && target.sesame ? [scenario, plainOf] : [scenario])
      sides.push({ target, scenario: s, state, ...pooled(target, s, state, o, b.mail, loadOf(target, s, state, b.mail, o.connections), say), rounds: [] });
  }
  try {
    if (o.quietWait > 0 && !(await waitQuiet(o.quietWait))) say(`[${scenario}] the machine is busy with other jobs; measuring anyway`);
    // The warm-up alternates too, in rounds of the same length: a server left idle for the others'
    // whole warm-up started its first round slowly (a fifth of its later rate, on both engines).
    const round = o.duration / o.rounds;
    const warmups = warmupRounds(o.warmup, round);
    for (let i = 0; i < warmups; i++)
      for (const side of sides) {
        await side.fill(o.warmup / warmups, false);
        await side.load(o.warmup / warmups);
      }
    for (const side of sides) {
      side.state.dry = 0;
      side.state.inactive = 0;
    }
    for (let i = 0; i < o.rounds; i++)
      for (const side of sides) {
        await side.fill(round, true);
        side.rounds.push(await sampled(side.target, () => side.load(round)));
      }
  } finally {
    for (const target of new Set(sides.map((s) => s.target))) await policyOff(target, scenario);
  }
  const rows: Measurement[] = [];
  const plain: Report['beside'] = [];
  for (const side of sides) {
    const m = combine(side.target, side.scenario, side.rounds, side.state);
    if (side.scenario === scenario) rows.push(m);
    else plain.push({ ...m, ratio: null, beside: scenario });
    say(`[${labelOf(m)}] ${side.scenario === scenario ? '' : `(beside ${scenario}) `}${describe(m)}`);
  }
  return { rows, plain };
}

async function runScenarios(b: Bench): Promise<void> {
  const { o } = b;
  say(
    `sesame from ${sesameCommand(o.from).from}; ${o.connections} connections, ${o.duration} s per target and scenario in ${o.rounds} rounds alternating between the targets (after ${o.warmup} s of warm-up each)`,
  );
  const targets: Target[] = [];
  const measurements: Measurement[] = [];
  const plain: Report['beside'] = [];
  const memory: Report['memory'] = [];
  try {
    // Every target runs for the whole bench: their rounds alternate. An idle server takes no CPU.
    // The baseline only when a scenario it has is asked for.
    const baselineRuns = o.scenarios.some((s) => !SESAME_ONLY.has(s));
    for (const name of o.targets.filter((t) => t !== 'baseline' || baselineRuns)) {
      for (const workers of name === 'baseline' ? [1] : o.workers) targets.push(await startTarget(b, name, workers));
    }
    const idle = new Map(targets.map((t) => [t, treeRssMiB(t.pid)]));
    const states = new Map<Target, State>();
    for (const target of targets) {
      const needsPool = o.scenarios.some((s) => NEEDS_POOL.has(s) && (target.sesame || !SESAME_ONLY.has(s)));
      states.set(target, newState(needsPool ? await signedInPool(b, target) : []));
    }
    for (const scenario of o.scenarios) {
      const measured = await measureScenario(b, targets, states, scenario);
      measurements.push(...measured.rows);
      plain.push(...measured.plain);
    }
    for (const target of targets) {
      const idleMiB = idle.get(target)!;
      const peaks = [...measurements, ...plain].filter((m) => m.target === target.name && m.workers === target.workers).map((m) => m.rssPeakMiB);
      memory.push({ target: target.name, workers: target.workers, idleMiB, peakMiB: Math.max(idleMiB, ...peaks) });
    }
  } finally {
    for (const target of targets) if (b.running.has(target)) await stopTarget(b, target);
  }
  const rows = withRatios(measurements);
  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    command: commandLine(),
    options: {
      duration: o.duration,
      rounds: o.rounds,
      connections: o.connections,
      warmup: o.warmup,
      pool: o.pool,
      otpPool: o.otpPool,
      mfaPool: o.mfaPool,
      workers: o.workers,
      only: o.scenarios,
      targets: o.targets,
    },
    sesameFrom: sesameCommand(o.from).from,
    rows,
    beside: plain,
    memory,
    scaling: scalingOf(rows),
    checks: [...actionChecks(rows, plain, o.connections), ...handoffChecks(rows), ...checksOf(rows, memory)],
    warnings: warningsOf(rows),
  };
  writeResults(join(ROOT, 'bench/results'), 'latest', report, markdownReport(report));
  console.log(`\n${markdownTable(rows, plain)}\n`);
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
  const b: Bench = { o, mail: await startBenchMail(), keys: await generateSigningKeys(), workDir: makeWorkDir(), running: new Set() };
  if (o.cpuProf) profiling.dir = join(ROOT, 'bench/results/profiles');
  const interrupted = () => {
    say('interrupted: stopping the servers under test');
    void Promise.allSettled([...b.running].map((t) => t.stop())).finally(() => process.exit(130));
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
