// The servers under load, each a child process on 127.0.0.1: Sesame on SQLite, Sesame on
// PostgreSQL (a fresh schema, dropped after) and the bare oidc-provider baseline. All three get the
// same signing keys, client and API; Sesame's are seeded into its database before it starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import pg from 'pg';
import { openDb } from '../src/storage/db.js';
import { migrate } from '../src/storage/migrate.js';
import { loadSigningJwks } from '../src/storage/signing-keys.js';
import { ROUTES } from '../src/oidc/provider.js';

export const ROOT = new URL('..', import.meta.url).pathname;
export const REDIRECT = 'http://127.0.0.1:9/cb';
export const CLIENT = {
  client_id: 'bench',
  client_secret: 'bench-secret-bench-secret-bench-secret',
  client_name: 'Bench',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
};
export const API = { identifier: 'https://api.bench.example', scopes: ['read', 'write'] };
export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export type TargetName = 'baseline' | 'sqlite' | 'postgresql';

export interface Target {
  name: TargetName;
  url: string;
  pid: number;
  /** True for Sesame (hosted pages and codes by mail), false for the baseline (auto-login). */
  sesame: boolean;
  stop(): Promise<void>;
}

/** One RS256 and one ES256 private key, as Sesame's signing-keys module makes them. */
export async function generateSigningKeys(): Promise<Array<{ kid: string; alg: string; jwk: string }>> {
  const keys = [];
  for (const alg of ['RS256', 'ES256'] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    keys.push({ kid, alg, jwk: JSON.stringify({ ...jwk, kid, alg, use: 'sig' }) });
  }
  return keys;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Migrates a database and stores the bench keys; returns the private JWKS as Sesame will load it. */
async function seedKeys(databaseUrl: string, keys: Awaited<ReturnType<typeof generateSigningKeys>>): Promise<JWK[]> {
  await migrate(databaseUrl);
  const db = openDb(databaseUrl);
  try {
    for (const [i, key] of keys.entries()) await db.prisma.signingKey.create({ data: { ...key, createdAt: new Date(Date.now() - 1000 + i) } });
    return await loadSigningJwks(db);
  } finally {
    await db.close();
  }
}

/** How Sesame is started: the compiled CLI when dist/ is at least as new as src/, tsx otherwise. */
export function sesameCommand(from: 'auto' | 'dist' | 'src'): { args: string[]; from: 'dist' | 'src' } {
  const dist = join(ROOT, 'dist/cli.js');
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
      const path = join(dir, e.name);
      return Math.max(max, e.isDirectory() ? (e.name === 'generated' ? 0 : newest(path)) : statSync(path).mtimeMs);
    }, 0);
  const useDist = from === 'dist' || (from === 'auto' && existsSync(dist) && statSync(dist).mtimeMs >= newest(join(ROOT, 'src')));
  return useDist ? { args: [dist, 'serve'], from: 'dist' } : { args: ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'serve'], from: 'src' };
}

async function waitReady(url: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const ok = await fetch(`${url}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
  child.kill('SIGKILL');
  throw new Error(`server at ${url} did not become ready (exit ${child.exitCode}):\n${log}`);
}

/** Set by `--cpu-prof`: each server writes a V8 CPU profile into this folder when it stops. */
export const profiling: { dir?: string } = {};

function startChild(args: string[], env: Record<string, string>, logFile: string): ChildProcess {
  const out = openSync(logFile, 'a');
  if (profiling.dir) args = ['--cpu-prof', `--cpu-prof-dir=${profiling.dir}`, ...args];
  return spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export interface SesameOptions {
  engine: 'sqlite' | 'postgresql';
  keys: Awaited<ReturnType<typeof generateSigningKeys>>;
  smtpUrl: string;
  from: 'auto' | 'dist' | 'src';
  workDir: string;
}

/** Starts `sesame serve` as a child process with a temporary config holding the bench client and API. */
export async function startSesameTarget(o: SesameOptions): Promise<Target & { jwks: JWK[]; from: 'dist' | 'src' }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let databaseUrl: string;
  let dropDatabase: () => Promise<void>;
  if (o.engine === 'sqlite') {
    const dir = mkdtempSync(join(o.workDir, 'sqlite-'));
    databaseUrl = `file:${join(dir, 'sesame.db')}`;
    dropDatabase = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = `bench_${process.pid}`;
    const u = new URL(POSTGRES_URL);
    u.searchParams.set('schema', schema);
    databaseUrl = u.toString();
    dropDatabase = async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    };
    await dropDatabase();
  }
  const jwks = await seedKeys(databaseUrl, o.keys);
  const configFile = join(o.workDir, `sesame-${o.engine}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      issuer: url,
      host: '127.0.0.1',
      emailFrom: 'Sesame Bench <login@bench.test>',
      clients: [{ ...CLIENT, first_party: true }],
      apis: [API],
      // The pools sign in many users from one IP in a few seconds.
      rateLimits: { sendsPerIpPerHour: 1_000_000, verifiesPerIpPerMinute: 1_000_000 },
      delivery: { pollInterval: 200 },
    }),
  );
  const command = sesameCommand(o.from);
  const logFile = join(o.workDir, `sesame-${o.engine}.log`);
  const child = startChild(command.args, {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    SESAME_CONFIG: configFile,
    SMTP_URL: o.smtpUrl,
    LOG_LEVEL: 'warn',
  }, logFile);
  try {
    await waitReady(url, child, logFile);
  } catch (err) {
    await dropDatabase();
    throw err;
  }
  return {
    name: o.engine,
    url,
    pid: child.pid!,
    sesame: true,
    jwks,
    from: command.from,
    async stop() {
      await stopChild(child);
      await dropDatabase();
    },
  };
}

/** Starts bench/baseline.ts as a child process with the given private JWKS. */
export async function startBaselineTarget(jwks: JWK[], workDir: string): Promise<Target> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(workDir, 'baseline.json');
  writeFileSync(configFile, JSON.stringify({ issuer: url, port, jwks, client: CLIENT, api: API, routes: ROUTES }));
  const logFile = join(workDir, 'baseline.log');
  const child = startChild(['--import', 'tsx', join(ROOT, 'bench/baseline.ts')], { NODE_ENV: 'production', BENCH_BASELINE: configFile }, logFile);
  await waitReady(url, child, logFile);
  return { name: 'baseline', url, pid: child.pid!, sesame: false, stop: () => stopChild(child) };
}

export function makeWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'sesame-bench-'));
}

/** Resident set size of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far (Linux /proc, clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Busy CPU seconds of the whole machine so far, all cores together (Linux /proc/stat). */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = fields[3]! + fields[4]!;
  return (fields.reduce((a, b) => a + b, 0) - idle) / 100;
}

/** CPU seconds used so far by each process of the PostgreSQL server, by pid. */
export function postgresCpuSeconds(): Map<number, number> {
  const used = new Map<number, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') used.set(Number(pid), cpuSeconds(Number(pid)));
    } catch {
      // the process ended meanwhile
    }
  }
  return used;
}

/** CPU seconds the PostgreSQL processes used between two snapshots (those that ended meanwhile are lost). */
export function postgresCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return Math.max(0, total);
}
