// `sesame serve` as a real child process (from src/ through tsx, so it is never a stale build), for
// tests that need several instances, workers, or a process killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from './net.js';
import { waitFor } from './wait.js';

const ROOT = new URL('../..', import.meta.url).pathname;
// The children run in a temporary directory, where a bare `--import tsx` would not resolve.
const TSX = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('tsx')).href;

export interface ServeProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process wrote (JSON log lines), so far. */
  output(): string;
  /** Log lines parsed as JSON (non-JSON lines skipped). */
  logs(): Array<Record<string, unknown>>;
  /** SIGKILL, no goodbye. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a graceful exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface ServeOptions {
  databaseUrl: string;
  /** Config file contents (clients, policies...). */
  config?: Record<string, unknown>;
  /** Extra CLI arguments after `serve` (e.g. ['--workers', '2']). */
  args?: string[];
  env?: Record<string, string>;
  port?: number;
  /** Issuer: by default http://127.0.0.1:<port>. Instances meant to act as one service share one. */
  issuer?: string;
  /** How long to wait for /readyz (ms); generous, since tsx and migrations are slow on a loaded machine. */
  readyTimeout?: number;
}

export async function startServe(o: ServeOptions): Promise<ServeProcess> {
  const port = o.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'sesame-proc-'));
  const configFile = join(dir, 'sesame.json');
  writeFileSync(configFile, JSON.stringify({ host: '127.0.0.1', delivery: { pollInterval: 200 }, ...o.config }));
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'serve', ...(o.args ?? [])], {
    cwd: dir,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      PORT: String(port),
      SESAME_ISSUER: o.issuer ?? url,
      DATABASE_URL: o.databaseUrl,
      SESAME_CONFIG: configFile,
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;

  const ready = async () => {
    // A starting server answers at once (503); the limit only bounds a slow database ping under load.
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (!ok && !alive()) throw new Error('exited');
    return ok;
  };
  try {
    await waitFor(ready, { timeout: o.readyTimeout ?? 90_000, interval: 100 });
  } catch {
    child.kill('SIGKILL');
    throw new Error(`sesame serve on ${port} did not become ready (exit ${child.exitCode}):\n${out.slice(-3000)}`);
  }
  return {
    url,
    port,
    child,
    output: () => out,
    logs: () =>
      out.split('\n').flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    async kill() {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls `proc`'s JSON log until a line matches; resolves with it. */
export async function waitForLog(proc: ServeProcess, match: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  return waitFor(() => proc.logs().find(match), { timeout: timeoutMs, what: 'a matching log line', detail: () => `last output:\n${proc.output().slice(-3000)}` });
}

/** Pids of the direct children of `pid` (the workers of a `serve --workers` primary), from /proc. */
export function childPids(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

/** Whether `pid` has exited (gone from /proc, or a zombie nobody reaped yet). */
export function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sesame <args>` (from src/ through tsx) against `databaseUrl`, with `config` as its config file. */
export function runCli(args: string[], o: { databaseUrl: string; config?: Record<string, unknown>; env?: Record<string, string> }): Promise<CliResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-cli-'));
  const configFile = join(dir, 'sesame.json');
  writeFileSync(configFile, JSON.stringify(o.config ?? {}));
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), ...args], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: o.databaseUrl, SESAME_CONFIG: configFile, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}
