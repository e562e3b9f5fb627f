// Ratios to the baseline, the Markdown tables, scaling across workers, the targets (PASS/MISS) and
// bench/results/latest.* (soak.* for `--soak`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Load } from './loop.js';
import type { Measurement, Scenario, Usage } from './scenarios.js';
import type { TargetName } from './targets.js';

/** Throughput each Sesame must reach, as a share of the baseline's, per database. */
export const TARGETS: Record<'sqlite' | 'postgresql', number> = { sqlite: 0.7, postgresql: 0.5 };
export const TARGETED: ReadonlySet<Scenario> = new Set(['client_credentials', 'refresh', 'userinfo', 'introspection']);
/** The baseline runs code_flow, but its interaction signs in without a page or a mail: no ratio. */
const NO_RATIO: ReadonlySet<Scenario> = new Set(['code_flow']);
/** passwordless_start with an SMTP server taking SLOW_SMTP_MS per message: mail must stay off the request. */
export const START_P99_MS = 50;
/** Issue 18: server CPU per passwordless_start. */
export const START_CPU_MS = 0.5;
/**
 * The sign-ins an app makes through an API for people, two requests each (passkey_signin: challenge
 * and webauthn grant; the MFA rows: the OTP grant, then their grant, after POST /mfa/challenge and
 * the mail for mfa_oob), ten in flight: the whole sign-in within
 * 200 ms at p99, the time a person does not notice between tapping and being in. Ten waiting on each
 * other on one server, that leaves each sign-in 20 ms of server time (an ES256 check or a TOTP, a
 * signed ID token, a few statements).
 */
export const SIGN_IN_P99_MS: Partial<Record<Scenario, number>> = { passkey_signin: 200, mfa_otp: 200, mfa_oob: 200, mfa_recovery: 200 };
/**
 * Issue 18: complete hosted sign-ins per second (code_flow: pages, the code's mail, the token
 * exchange), by worker count on this 2-core machine.
 */
export const CODE_FLOW_PER_S: Readonly<Record<number, number>> = { 1: 90, 2: 150 };
/** Resident memory of a Sesame target (its whole process tree), under load and over a soak. */
export const MAX_RSS_MB = 300;
/** Growth of resident memory allowed after the soak's first minute (the warm-up of caches and JIT). */
export const SOAK_GROWTH = 0.1;

export interface Row extends Measurement {
  ratio: number | null;
}

export interface Check {
  pass: boolean;
  what: string;
}

export interface Memory {
  target: TargetName;
  workers: number;
  idleMiB: number;
  peakMiB: number;
}

export interface Scaling {
  scenario: Scenario;
  target: TargetName;
  workers: number;
  rps: number;
  rps1: number;
}

export interface Report {
  date: string;
  machine: { nproc: number; cpu: string; node: string; platform: string };
  command: string;
  options: {
    duration: number;
    rounds: number;
    connections: number;
    warmup: number;
    pool: number;
    otpPool: number | 'auto';
    mfaPool: number | 'auto';
    workers: number[];
    only: string[];
    targets: string[];
  };
  sesameFrom: string;
  rows: Row[];
  /** Scenarios measured beside another on the same server, in rounds alternating with its (PLAIN_OF: code_flow beside code_flow_risk). */
  beside: Array<Row & { beside: Scenario }>;
  memory: Memory[];
  scaling: Scaling[];
  checks: Check[];
  warnings: string[];
}

/** `sqlite`, or `sqlite ×2` for two cluster workers. */
export const labelOf = (x: { target: TargetName; workers: number }) => (x.workers > 1 ? `${x.target} ×${x.workers}` : x.target);

const mb = (mib: number) => mib * 1.048576;

/** The `p` quantile (0 to 1) of ascending `sorted` latencies; NaN when there are none. */
export function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]! : NaN;
}

export function withRatios(measurements: Measurement[]): Row[] {
  return measurements.map((m) => {
    const base = measurements.find((b) => b.target === 'baseline' && b.scenario === m.scenario);
    return { ...m, ratio: base && base.rps > 0 && !NO_RATIO.has(m.scenario) ? m.rps / base.rps : null };
  });
}

/** Req/s of each Sesame run with N > 1 workers against the same target and scenario with one. */
export function scalingOf(rows: Row[]): Scaling[] {
  return rows.flatMap((r) => {
    const one = rows.find((x) => x.target === r.target && x.scenario === r.scenario && x.workers === 1);
    return r.workers > 1 && one ? [{ scenario: r.scenario, target: r.target, workers: r.workers, rps: r.rps, rps1: one.rps }] : [];
  });
}

export function checksOf(rows: Row[], memory: Memory[]): Check[] {
  const checks: Check[] = [];
  for (const row of rows) {
    // The ratios are targets for one process; a cluster against the one-process baseline is not like for like.
    if (row.target === 'baseline' || row.workers > 1 || !TARGETED.has(row.scenario) || row.ratio === null) continue;
    const min = TARGETS[row.target];
    checks.push({ pass: row.ratio >= min, what: `${row.scenario} on ${row.target}: ${row.ratio.toFixed(2)} of baseline (target >= ${min})` });
  }
  for (const row of rows.filter((r) => r.scenario === 'passwordless_start')) {
    checks.push({
      pass: row.p99 <= START_P99_MS && row.errors + row.non2xx === 0,
      what: `passwordless_start on ${labelOf(row)} with a 500 ms SMTP server: p99 ${row.p99} ms, ${row.errors + row.non2xx} errors (target p99 <= ${START_P99_MS} ms, none)`,
    });
    // Server CPU per start (its worker's mail included): its share of a core over the starts per second.
    const cpuMs = row.rps > 0 ? (row.cpu * 10) / row.rps : NaN;
    checks.push({ pass: cpuMs <= START_CPU_MS, what: `passwordless_start on ${labelOf(row)}: ${cpuMs.toFixed(2)} ms of server CPU per start (target <= ${START_CPU_MS} ms)` });
  }
  for (const row of rows) {
    const max = SIGN_IN_P99_MS[row.scenario];
    if (max === undefined) continue;
    const cpuMs = row.rps > 0 ? (row.cpu / 100 / row.rps) * 1000 : NaN;
    checks.push({
      pass: row.requests > 0 && row.p99 <= max && row.errors + row.non2xx === 0,
      what: `${row.scenario} on ${labelOf(row)}: ${row.rps.toFixed(1)} sign-ins/s, p50 ${row.p50.toFixed(0)} ms, p99 ${row.p99.toFixed(0)} ms, ${cpuMs.toFixed(1)} ms of server CPU each (target p99 <= ${max} ms)`,
    });
  }
  for (const row of rows.filter((r) => r.scenario === 'code_flow' && r.target !== 'baseline')) {
    const min = CODE_FLOW_PER_S[row.workers];
    if (min === undefined) continue;
    const cpuMs = row.rps > 0 ? (row.cpu / 100 / row.rps) * 1000 : NaN;
    checks.push({
      pass: row.rps >= min && row.errors + row.non2xx === 0,
      what: `code_flow on ${labelOf(row)}: ${row.rps.toFixed(1)} sign-ins/s, p50 ${row.p50.toFixed(0)} ms, ${cpuMs.toFixed(1)} ms of server CPU each (target >= ${min} sign-ins/s, no error)`,
    });
  }
  // Per process, like the ratios: a cluster's total grows with its workers by design.
  for (const m of memory.filter((x) => x.target !== 'baseline' && x.workers === 1)) {
    checks.push({ pass: mb(m.peakMiB) <= MAX_RSS_MB, what: `peak RSS under load on ${labelOf(m)}: ${mb(m.peakMiB).toFixed(0)} MB (target <= ${MAX_RSS_MB} MB)` });
  }
  const pooled = rows.filter((r) => r.poolDry !== undefined);
  if (pooled.length) checks.push(poolCheck(pooled));
  checks.push(errorsCheck(rows.map((r) => ({ ...r, label: `${r.scenario} on ${labelOf(r)}` }))));
  return checks;
}

/** That every single-use pool lasted its measured rounds: a round that ran dry measured less than the server can do. */
export function poolCheck(rows: Row[]): Check {
  const dry = rows.filter((r) => (r.poolDry ?? 0) > 0);
  const names = [...new Set(rows.map((r) => r.scenario))].join(', ');
  return {
    pass: dry.length === 0,
    what: dry.length
      ? `pools ran dry in measured rounds: ${dry.map((r) => `${r.scenario} on ${labelOf(r)} (${r.poolDry} ${r.scenario === 'otp_grant' || r.scenario === 'refresh' ? 'requests' : 'sign-ins'} without)`).join(', ')}`
      : `no pool ran dry in a measured round (${names})`,
  };
}

// A run with no answer at all has no error either, yet measured nothing (otp_grant on PostgreSQL
// on a machine with others at 160 %: rounds of 0 req/s): it is no PASS.
function errorsCheck(runs: Array<Pick<Measurement, 'requests' | 'errors' | 'non2xx' | 'statusCodes' | 'inactive' | 'poolDry' | 'failure'> & { label: string }>): Check {
  const failing = runs.filter((r) => r.errors + r.non2xx + (r.inactive ?? 0) > 0 || r.requests === 0);
  const why = (r: (typeof runs)[number]) =>
    `${r.label}: ${r.requests === 0 ? 'nothing answered within its rounds, ' : ''}${r.errors} errors, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}${r.inactive ? `, ${r.inactive} inactive` : ''}${r.poolDry ? `, ${r.poolDry} sent with the pool dry` : ''}${r.failure ? ` (first: ${r.failure})` : ''}`;
  return {
    pass: failing.length === 0,
    what: failing.length ? `errors: ${failing.map(why).join('; ')}` : 'zero errors and non-2xx responses in every run, and answers in each',
  };
}

/** Runs during which other jobs used more than a third of a core: their numbers are suspect. */
export function warningsOf(rows: Row[]): string[] {
  const noisy = rows.filter((r) => r.otherCpu > 33);
  if (!noisy.length) return [];
  return [
    `other jobs used the CPUs during ${noisy.length} run(s) (${noisy.map((r) => `${r.scenario} on ${labelOf(r)}: ${r.otherCpu.toFixed(0)}%`).join(', ')}); rerun on a quiet machine`,
  ];
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export function markdownTable(rows: Row[], beside: Report['beside'] = []): string {
  const lines = [
    '| scenario | target | req/s | p50 ms | p99 ms | errors / non-2xx | vs baseline | CPU server / PostgreSQL / others | RSS peak MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of [...rows, ...beside]) {
    const ratio = r.ratio === null ? '' : r.target === 'baseline' ? '1.00' : r.ratio.toFixed(2);
    const name = 'beside' in r ? `${r.scenario} (beside ${String(r.beside)})` : r.scenario;
    const dry = r.poolDry ? ` (pool dry: ${r.poolDry})` : '';
    lines.push(
      `| ${name} | ${labelOf(r)} | ${fmt(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} / ${r.non2xx}${r.inactive ? ` (+${r.inactive} inactive)` : ''}${dry} | ${ratio} | ${fmt(r.cpu)}% / ${r.target === 'postgresql' ? `${fmt(r.dbCpu)}%` : '-'} / ${fmt(r.otherCpu)}% | ${fmt(r.rssPeakMiB)} |`,
    );
  }
  return lines.join('\n');
}

export function memoryTable(memory: Memory[]): string {
  return ['| process | RSS idle MiB | RSS peak under load MiB |', '|---|---:|---:|', ...memory.map((x) => `| ${labelOf(x)} | ${fmt(x.idleMiB)} | ${fmt(x.peakMiB)} |`)].join('\n');
}

export function scalingLines(scaling: Scaling[]): string[] {
  return scaling.map((s) => `scaling  ${s.scenario} on ${s.target}: ${s.workers} workers ${fmt(s.rps)} req/s, 1 worker ${fmt(s.rps1)} req/s: ×${fmt(s.rps / s.rps1, 2)}`);
}

export function markdownReport(report: Report): string {
  const m = report.machine;
  return [
    `# Sesame benchmark`,
    '',
    `${report.date} — ${m.nproc} cores (${m.cpu}), Node ${m.node}, ${m.platform}; Sesame from ${report.sesameFrom}.`,
    `\`${report.command}\`: ${report.options.connections} connections, ${report.options.duration} s per target and scenario in ${report.options.rounds} rounds alternating between the targets, after ${report.options.warmup} s of warm-up, ${report.options.pool} signed-in users per target.`,
    '',
    markdownTable(report.rows, report.beside),
    '',
    memoryTable(report.memory),
    '',
    ...scalingLines(report.scaling).map((line) => `- ${line}`),
    ...report.checks.map((c) => `- ${c.pass ? 'PASS' : 'MISS'} ${c.what}`),
    ...report.warnings.map((w) => `- WARN ${w}`),
    '',
  ].join('\n');
}

export interface SoakReport {
  date: string;
  machine: Report['machine'];
  command: string;
  sesameFrom: string;
  target: TargetName;
  workers: number;
  minutes: number;
  connections: number;
  /** What the soak's Sesame runs with besides the bench config: the sweeper and access tokens made short. */
  config: Record<string, unknown>;
  rows: Array<Load & { scenario: Scenario; connections: number; rps: number; poolDry?: number }>;
  usage: Usage;
  /** Resident memory of the server's process tree, every SOAK_SAMPLE_S from the start. */
  samples: Array<{ seconds: number; rssMiB: number }>;
  firstMinuteMiB: number;
  maxMiB: number;
  lastMiB: number;
  checks: Check[];
}

/** The soak's memory figures and targets, from its samples. */
export function soakFigures(samples: SoakReport['samples'], rows: SoakReport['rows'], label: string): Pick<SoakReport, 'firstMinuteMiB' | 'maxMiB' | 'lastMiB' | 'checks'> {
  const first = samples.find((s) => s.seconds >= 60) ?? samples.at(-1)!;
  const after = samples.filter((s) => s.seconds >= first.seconds);
  const maxAfter = Math.max(...after.map((s) => s.rssMiB));
  const maxMiB = Math.max(...samples.map((s) => s.rssMiB));
  const lastMiB = samples.at(-1)!.rssMiB;
  return {
    firstMinuteMiB: first.rssMiB,
    maxMiB,
    lastMiB,
    checks: [
      // Only growth counts: memory given back after the first minute is no leak.
      {
        pass: maxAfter <= first.rssMiB * (1 + SOAK_GROWTH),
        what: `RSS on ${label} flat after the first minute: ${fmt(first.rssMiB)} MiB at ${first.seconds} s, at most ${fmt(maxAfter)} MiB after, ${fmt(lastMiB)} MiB last (target within +${SOAK_GROWTH * 100}%)`,
      },
      { pass: mb(maxMiB) <= MAX_RSS_MB, what: `RSS on ${label} over the soak: at most ${fmt(mb(maxMiB))} MB (target <= ${MAX_RSS_MB} MB)` },
      errorsCheck(rows.map((r) => ({ ...r, label: `${r.scenario} on ${label}` }))),
    ],
  };
}

export function soakMarkdown(report: SoakReport): string {
  const m = report.machine;
  const u = report.usage;
  return [
    `# Sesame soak`,
    '',
    `${report.date} — ${m.nproc} cores (${m.cpu}), Node ${m.node}, ${m.platform}; Sesame from ${report.sesameFrom}.`,
    `\`${report.command}\`: ${report.minutes} min of refresh + userinfo + client_credentials, ${report.connections} connections, on ${labelOf(report)} with ${JSON.stringify(report.config)}.`,
    '',
    '| scenario | connections | req/s | p50 ms | p99 ms | errors / non-2xx |',
    '|---|---:|---:|---:|---:|---:|',
    ...report.rows.map((r) => `| ${r.scenario} | ${r.connections} | ${fmt(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} / ${r.non2xx} |`),
    '',
    `CPU: server ${fmt(u.cpu)}%${report.target === 'postgresql' ? `, PostgreSQL ${fmt(u.dbCpu)}%` : ''}, load generator ${fmt(u.loadCpu)}%, others ${fmt(u.otherCpu)}%.`,
    `RSS: ${fmt(report.firstMinuteMiB)} MiB after the first minute, ${fmt(report.maxMiB)} MiB at most, ${fmt(report.lastMiB)} MiB at the end (samples every 10 s in soak.json).`,
    '',
    ...report.checks.map((c) => `- ${c.pass ? 'PASS' : 'MISS'} ${c.what}`),
    '',
  ].join('\n');
}

/** Writes `<name>.json` and `<name>.md` into `dir`. */
export function writeResults(dir: string, name: string, report: object, markdown: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, `${name}.md`), markdown);
}
