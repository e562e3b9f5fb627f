// `npm run bench`: Sesame on SQLite, Sesame on PostgreSQL and a bare oidc-provider baseline, one
// after the other on this machine, under the same load; prints a Markdown table and the targets,
// and writes bench/results/latest.json and latest.md. Not a test: numbers depend on the machine.
//
//   npm run bench -- [--duration <s>] [--connections <n>] [--only <scenario,...>]
//                    [--targets baseline,sqlite,postgresql] [--warmup <s>] [--pool <n>] [--from auto|dist|src]
//                    [--quiet-wait <s>] [--cpu-prof]
import { rmSync } from 'node:fs';
import { availableParallelism, cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startMailSink } from '../test/helpers/smtp.js';
import { makePool, type Tokens } from './flows.js';
import { checksOf, markdownTable, memoryTable, warningsOf, withRatios, writeResults, type Report } from './report.js';
import { measure, NEEDS_POOL, SCENARIOS, waitQuiet, type Measurement, type Scenario } from './scenarios.js';
import {
  generateSigningKeys,
  makeWorkDir,
  profiling,
  ROOT,
  rssMiB,
  sesameCommand,
  startBaselineTarget,
  startSesameTarget,
  type Target,
  type TargetName,
} from './targets.js';

const TARGET_NAMES: TargetName[] = ['baseline', 'sqlite', 'postgresql'];

class UsageError extends Error {}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      warmup: { type: 'string', default: '2' },
      only: { type: 'string' },
      targets: { type: 'string' },
      pool: { type: 'string' },
      from: { type: 'string', default: 'auto' },
      'quiet-wait': { type: 'string', default: '60' },
      'cpu-prof': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(`Usage: npm run bench -- [--duration <s>] [--connections <n>] [--only ${SCENARIOS.join(',')}]\n` +
      `       [--targets ${TARGET_NAMES.join(',')}] [--warmup <s>] [--pool <users per target>] [--from auto|dist|src]\n` +
      '       [--quiet-wait <s>: before each run, wait at most this long for other jobs to leave the CPUs]\n' +
      '       [--cpu-prof: each server writes a V8 CPU profile to bench/results/profiles/]');
    process.exit(0);
  }
  const list = <T extends string>(raw: string | undefined, all: readonly T[], what: string): T[] => {
    if (!raw) return [...all];
    const picked = raw.split(',').map((s) => s.trim()).filter(Boolean);
    for (const p of picked) if (!all.includes(p as T)) throw new UsageError(`unknown ${what} "${p}" (one of ${all.join(', ')})`);
    return all.filter((a) => picked.includes(a));
  };
  const number = (raw: string, name: string, min: number) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min}`);
    return n;
  };
  const connections = number(values.connections, 'connections', 1);
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
    scenarios: list(values.only, SCENARIOS, 'scenario'),
    targets: list(values.targets, TARGET_NAMES, 'target'),
    from,
    quietWait: number(values['quiet-wait'], 'quiet-wait', 0),
    cpuProf: values['cpu-prof'] === true,
  };
}

const say = (line: string) => process.stderr.write(`${line}\n`);

async function main() {
  const o = options();
  const workDir = makeWorkDir();
  if (o.cpuProf) profiling.dir = join(ROOT, 'bench/results/profiles');
  const mail = await startMailSink();
  const keys = await generateSigningKeys();
  // The order loadSigningJwks gives Sesame: newest first.
  const baselineJwks = [...keys].reverse().map((k) => JSON.parse(k.jwk));
  const measurements: Measurement[] = [];
  const memory: Report['memory'] = [];
  let current: Target | undefined;
  const interrupted = () => {
    say('interrupted: stopping the server under test');
    void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  say(`sesame from ${sesameCommand(o.from).from}; ${o.connections} connections, ${o.duration} s per run (+${o.warmup} s warm-up)`);
  try {
    for (const name of o.targets) {
      say(`\n[${name}] starting`);
      const target = (current =
        name === 'baseline'
          ? await startBaselineTarget(baselineJwks, workDir)
          : await startSesameTarget({ engine: name, keys, smtpUrl: mail.url, from: o.from, workDir }));
      try {
        if ('jwks' in target && JSON.stringify(target.jwks) !== JSON.stringify(baselineJwks)) throw new Error('Sesame loaded other signing keys than the baseline');
        const idleMiB = rssMiB(target.pid);
        let pool: Tokens[] = [];
        if (o.scenarios.some((s) => NEEDS_POOL.has(s))) {
          const started = performance.now();
          pool = await makePool(target, o.pool, mail);
          say(`[${name}] ${pool.length} users signed in through the code flow in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        }
        const refreshTokens = pool.map((t) => t.refresh_token);
        for (const scenario of o.scenarios) {
          if (o.quietWait > 0 && !(await waitQuiet(o.quietWait))) say(`[${name}] the machine is busy with other jobs; measuring anyway`);
          const m = await measure(target, scenario as Scenario, pool, refreshTokens, o);
          measurements.push(m);
          const dry = m.poolDry ? `, ${m.poolDry} with the pool dry` : '';
          say(`[${name}] ${scenario.padEnd(18)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50} ms  p99 ${m.p99} ms  errors ${m.errors}  non-2xx ${m.non2xx}${dry}  cpu ${m.cpu.toFixed(0)}% (others ${m.otherCpu.toFixed(0)}%)  rss ${m.rssPeakMiB.toFixed(0)} MiB`);
        }
        memory.push({ target: name, idleMiB, peakMiB: Math.max(idleMiB, ...measurements.filter((m) => m.target === name).map((m) => m.rssPeakMiB)) });
      } finally {
        await target.stop();
        current = undefined;
      }
    }
  } finally {
    await mail.close();
    rmSync(workDir, { recursive: true, force: true });
  }

  const rows = withRatios(measurements);
  const report: Report = {
    date: new Date().toISOString(),
    machine: { nproc: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${platform()} ${release()}` },
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    options: { duration: o.duration, connections: o.connections, warmup: o.warmup, pool: o.pool, only: o.scenarios, targets: o.targets },
    sesameFrom: sesameCommand(o.from).from,
    rows,
    memory,
    checks: checksOf(rows),
    warnings: warningsOf(rows),
  };
  writeResults(report, join(ROOT, 'bench/results'));
  console.log(`\n${markdownTable(rows)}\n`);
  console.log(memoryTable(memory));
  console.log('');
  for (const check of report.checks) console.log(`${check.pass ? 'PASS' : 'MISS'}  ${check.what}`);
  for (const warning of report.warnings) console.log(`WARN  ${warning}`);
  const missed = report.checks.filter((c) => !c.pass).length;
  console.log(`\n${report.checks.length - missed} PASS, ${missed} MISS — bench/results/latest.md, latest.json`);
}

main().catch((err: unknown) => {
  const usage = err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
  console.error(`bench: ${usage ? `${(err as Error).message} (npm run bench -- --help)` : ((err as Error).stack ?? String(err))}`);
  process.exit(1);
});
