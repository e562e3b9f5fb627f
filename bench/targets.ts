// The servers under load, each a child process on 127.0.0.1: Sesame on SQLite, Sesame on
// PostgreSQL (a fresh schema, dropped after) and the bare oidc-provider baseline. All three get the
// same signing keys, client and API; Sesame's are seeded into its database before it starts. Sesame
// may run as a primary with cluster workers: its CPU and memory are those of the whole process tree.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
export const OTP_GRANT = 'http://auth0.com/oauth/grant-type/passwordless/otp';
export const WEBAUTHN_GRANT = 'urn:okta:params:oauth:grant-type:webauthn';
export const MFA_OTP_GRANT = 'http://auth0.com/oauth/grant-type/mfa-otp';
export const MFA_OOB_GRANT = 'http://auth0.com/oauth/grant-type/mfa-oob';
export const MFA_RECOVERY_GRANT = 'http://auth0.com/oauth/grant-type/mfa-recovery-code';
// The baseline's oidc-provider refuses a client with a grant type it has no handler for. The bench
// client is a server-side app relaying its users' addresses (trust_forwarded_for): passkey_signin
// sends each ceremony from its own, as many users would, under the per-IP ceremony limit.
const SESAME_CLIENT = { ...CLIENT, grant_types: [...CLIENT.grant_types, OTP_GRANT, WEBAUTHN_GRANT], first_party: true, trust_forwarded_for: true };
/** code_flow_risk's app: the bench client with a ten-rule sign-in policy of its own (bench/actions.ts), so code_flow's has none. */
export const RISK_CLIENT = { ...CLIENT, client_id: 'bench-risk' };
/** The MFA rows' app: every sign-in through it needs a second factor (its own mfa_policy), the bench client's none. */
export const MFA_CLIENT = {
  client_id: 'bench-mfa',
  client_secret: 'bench-mfa-secret-bench-mfa-secret-bench',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token', OTP_GRANT, MFA_OTP_GRANT, MFA_OOB_GRANT, MFA_RECOVERY_GRANT],
  mfa_policy: 'always',
};
export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export type TargetName = 'baseline' | 'sqlite' | 'postgresql';

export interface Target {
  name: TargetName;
  url: string;
  pid: number;
  /** True for Sesame (hosted pages and codes by mail), false for the baseline (auto-login). */
  sesame: boolean;
  /** Server processes answering requests: cluster workers of `sesame serve --workers`, or 1. */
  workers: number;
  /** Sesame only: runs `sesame <args>` on the target's database and config; answers its standard output. */
  cli?(args: string[]): Promise<string>;
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
    const ok = await fetch(`${url}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
  child.kill('SIGKILL');
  throw new Error(`server at ${url} did not become ready (exit ${child.exitCode}):\n${log}`);
}

/**
 * Waits until the primary has forked its workers. A Sesame without cluster support ignores
 * SESAME_WORKERS and would be measured as one process under a "×N" label.
 */
async function waitWorkers(child: ChildProcess, workers: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (processTree(child.pid!).length >= workers + 1) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-3000) : '';
  throw new Error(`sesame serve did not fork ${workers} workers within 30 s (does it support SESAME_WORKERS / --workers?):\n${log}`);
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
  /** The SMS gateway the `sms` connection sends through (bench/mail.ts); none: no SMS connection. */
  smsUrl?: string;
  from: 'auto' | 'dist' | 'src';
  workDir: string;
  /** Cluster workers (SESAME_WORKERS); one process when absent. */
  workers?: number;
  /** Settings merged over the bench's config file (the soak's short lifetimes and sweeps). */
  config?: Record<string, unknown>;
}

/**
 * mfa_oob's first factor, a text through the bench's gateway: an email code cannot precede an email
 * factor (one inbox twice). Thousands of sends from one address to one prefix within seconds, all
 * verified at once or never (a pool left over): the pumping guard's limits stay out of the way.
 */
const smsConnection = (url: string) => ({
  id: 'sms',
  type: 'sms',
  allowedCountries: ['FR'],
  provider: { type: 'http', url },
  sendsPerPrefixPerHour: 1_000_000,
  sendsPerIpPerHour: 1_000_000,
  minConversion: 0,
});

/** Starts `sesame serve` as a child process with a temporary config holding the bench client and API. */
export async function startSesameTarget(o: SesameOptions): Promise<Target & { jwks: JWK[]; from: 'dist' | 'src' }> {
  const workers = o.workers ?? 1;
  const port = await freePort();
  // A host name, not 127.0.0.1: WebAuthn refuses IP addresses, and the relying party is the issuer's host.
  const url = `http://localhost:${port}`;
  let databaseUrl: string;
  let dropDatabase: () => Promise<void>;
  if (o.engine === 'sqlite') {
    const dir = mkdtempSync(join(o.workDir, 'sqlite-'));
    databaseUrl = `file:${join(dir, 'sesame.db')}`;
    dropDatabase = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    // One schema per server: with --workers 1,2 both PostgreSQL targets run at once, and a shared
    // schema was dropped under the first by the second's start (and held one policy for both).
    const schema = `bench_${process.pid}_${workers}`;
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
  const configFile = join(o.workDir, `sesame-${o.engine}-${workers}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      issuer: url,
      host: '127.0.0.1',
      emailFrom: 'Sesame Bench <login@bench.test>',
      clients: [SESAME_CLIENT, { ...SESAME_CLIENT, ...RISK_CLIENT }, MFA_CLIENT],
      apis: [API],
      ...(o.smsUrl && { connections: [{ id: 'email', type: 'email' }, smsConnection(o.smsUrl)] }),
      // The pools, code_flow, otp_grant and passwordless_start send and check thousands of codes
      // from one IP and one client within seconds (each to its own address: the per-address limits stay).
      rateLimits: { sendsPerIpPerHour: 1_000_000, verifiesPerIpPerMinute: 1_000_000, sendsPerClientPerHour: 1_000_000, otpGrantsPerClientPerMinute: 1_000_000 },
      delivery: { pollInterval: 200 },
      // Sweeps as a long-running server does, often enough that a run sees them: on a PostgreSQL
      // without autovacuum (these machines) a sweep also refreshes the statistics (storage/sweep.ts).
      sweepInterval: 60,
      // As before passkeys worked here (an IP issuer): code_flow's sign-ins are not offered to create one.
      passkeys: { offerEnrolment: false },
      // mfa_otp's users get a code to enrol their app, then one for the measured sign-in, a second later.
      codes: { resendCooldown: 1 },
      // actions_track tracks thousands of actions a second for the one bench tenant.
      actions: { tracksPerMinute: 1_000_000 },
      ...o.config,
    }),
  );
  const command = sesameCommand(o.from);
  const logFile = join(o.workDir, `sesame-${o.engine}-${workers}.log`);
  const env = { NODE_ENV: 'production', DATABASE_URL: databaseUrl, SESAME_CONFIG: configFile, SMTP_URL: o.smtpUrl, LOG_LEVEL: 'warn' };
  const child = startChild(command.args, { ...env, PORT: String(port), ...(workers > 1 ? { SESAME_WORKERS: String(workers) } : {}) }, logFile);
  try {
    await waitReady(url, child, logFile);
    if (workers > 1) await waitWorkers(child, workers, logFile);
  } catch (err) {
    await stopChild(child);
    await dropDatabase();
    throw err;
  }
  return {
    name: o.engine,
    url,
    pid: child.pid!,
    sesame: true,
    workers,
    jwks,
    from: command.from,
    async cli(args) {
      return (await promisify(execFile)(process.execPath, [...command.args.slice(0, -1), ...args], { cwd: ROOT, env: { ...process.env, ...env } })).stdout;
    },
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
  return { name: 'baseline', url, pid: child.pid!, sesame: false, workers: 1, stop: () => stopChild(child) };
}

export function makeWorkDir(): string {
  return mkdtempSync(join(tmpdir(), 'sesame-bench-'));
}

/** Resident set size of a process, in MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): state is [0], ppid [1]. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) a process has used so far (Linux /proc, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * A process and all its descendants (a primary and its cluster workers). Walks /proc for parent
 * pids: /proc/<pid>/task/<tid>/children needs a kernel option that is not always there.
 */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(Number(entry))[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** Resident memory of a process tree, in MiB: the processes' RSS summed (shared pages count in each). */
export function treeRssMiB(root: number): number {
  return processTree(root).reduce((sum, pid) => {
    try {
      return sum + rssMiB(pid);
    } catch {
      return sum; // ended meanwhile
    }
  }, 0);
}

/** CPU seconds used so far by each process of a tree, by pid. */
export function treeCpuSeconds(root: number): Map<number, number> {
  return cpuSecondsOf(processTree(root));
}

function cpuSecondsOf(pids: number[]): Map<number, number> {
  const used = new Map<number, number>();
  for (const pid of pids) {
    try {
      used.set(pid, cpuSeconds(pid));
    } catch {
      // the process ended meanwhile
    }
  }
  return used;
}

/** Busy CPU seconds of the whole machine so far, all cores together (Linux /proc/stat). */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = fields[3]! + fields[4]!;
  return (fields.reduce((a, b) => a + b, 0) - idle) / 100;
}

/** CPU seconds used so far by each process of the PostgreSQL server, by pid. */
export function postgresCpuSeconds(): Map<number, number> {
  const pids = readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
    } catch {
      return false; // the process ended meanwhile
    }
  });
  return cpuSecondsOf(pids.map(Number));
}

/** CPU seconds a set of processes used between two snapshots (those that ended meanwhile are lost). */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return Math.max(0, total);
}
