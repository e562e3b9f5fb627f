// Ratios to the baseline, the Markdown table, the targets (PASS/MISS) and bench/results/latest.*.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Measurement, Scenario } from './scenarios.js';
import type { TargetName } from './targets.js';

/** Throughput each Sesame must reach, as a share of the baseline's, per database. */
export const TARGETS: Record<'sqlite' | 'postgresql', number> = { sqlite: 0.7, postgresql: 0.5 };
export const TARGETED: ReadonlySet<Scenario> = new Set(['client_credentials', 'refresh', 'userinfo', 'introspection']);

export interface Row extends Measurement {
  ratio: number | null;
}

export interface Check {
  pass: boolean;
  what: string;
}

export interface Report {
  date: string;
  machine: { nproc: number; cpu: string; node: string; platform: string };
  command: string;
  options: { duration: number; connections: number; warmup: number; pool: number; only: string[]; targets: string[] };
  sesameFrom: string;
  rows: Row[];
  memory: Array<{ target: TargetName; idleMiB: number; peakMiB: number }>;
  checks: Check[];
  warnings: string[];
}

export function withRatios(measurements: Measurement[]): Row[] {
  return measurements.map((m) => {
    const base = measurements.find((b) => b.target === 'baseline' && b.scenario === m.scenario);
    return { ...m, ratio: base && base.rps > 0 ? m.rps / base.rps : null };
  });
}

export function checksOf(rows: Row[]): Check[] {
  const checks: Check[] = [];
  for (const row of rows) {
    if (row.target === 'baseline' || !TARGETED.has(row.scenario) || row.ratio === null) continue;
    const min = TARGETS[row.target];
    checks.push({ pass: row.ratio >= min, what: `${row.scenario} on ${row.target}: ${row.ratio.toFixed(2)} of baseline (target >= ${min})` });
  }
  const failing = rows.filter((r) => r.errors + r.non2xx + (r.inactive ?? 0) > 0);
  checks.push({
    pass: failing.length === 0,
    what: failing.length
      ? `errors: ${failing.map((r) => `${r.scenario} on ${r.target}: ${r.errors} errors, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}${r.inactive ? `, ${r.inactive} inactive` : ''}`).join('; ')}`
      : 'zero errors and non-2xx responses in every run',
  });
  return checks;
}

/** Runs during which other jobs used more than a third of a core: their numbers are suspect. */
export function warningsOf(rows: Row[]): string[] {
  const noisy = rows.filter((r) => r.otherCpu > 33);
  if (!noisy.length) return [];
  return [`other jobs used the CPUs during ${noisy.length} run(s) (${noisy.map((r) => `${r.scenario} on ${r.target}: ${r.otherCpu.toFixed(0)}%`).join(', ')}); rerun on a quiet machine`];
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export function markdownTable(rows: Row[]): string {
  const lines = [
    '| scenario | target | req/s | p50 ms | p99 ms | errors / non-2xx | vs baseline | CPU server / PostgreSQL / others | RSS peak MiB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const ratio = r.ratio === null ? '' : r.target === 'baseline' ? '1.00' : r.ratio.toFixed(2);
    lines.push(`| ${r.scenario} | ${r.target} | ${fmt(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} / ${r.non2xx}${r.inactive ? ` (+${r.inactive} inactive)` : ''} | ${ratio} | ${fmt(r.cpu)}% / ${r.target === 'postgresql' ? `${fmt(r.dbCpu)}%` : '-'} / ${fmt(r.otherCpu)}% | ${fmt(r.rssPeakMiB)} |`);
  }
  return lines.join('\n');
}

export function memoryTable(memory: Report['memory']): string {
  return ['| process | RSS idle MiB | RSS peak under load MiB |', '|---|---:|---:|', ...memory.map((x) => `| ${x.target} | ${fmt(x.idleMiB)} | ${fmt(x.peakMiB)} |`)].join('\n');
}

export function markdownReport(report: Report): string {
  const m = report.machine;
  return [
    `# Sesame benchmark`,
    '',
    `${report.date} — ${m.nproc} cores (${m.cpu}), Node ${m.node}, ${m.platform}; Sesame from ${report.sesameFrom}.`,
    `\`${report.command}\`: ${report.options.connections} connections, ${report.options.duration} s per run after ${report.options.warmup} s of warm-up, ${report.options.pool} signed-in users per target.`,
    '',
    markdownTable(report.rows),
    '',
    memoryTable(report.memory),
    '',
    ...report.checks.map((c) => `- ${c.pass ? 'PASS' : 'MISS'} ${c.what}`),
    ...report.warnings.map((w) => `- WARN ${w}`),
    '',
  ].join('\n');
}

export function writeResults(report: Report, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.md'), markdownReport(report));
}
