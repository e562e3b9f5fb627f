// `sesame worker` as a real child process (tsx on src/cli.ts), for tests of delivery apart from
// serve: its JSON log is kept for the test to read.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { waitFor } from './wait.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const TSX = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('tsx')).href;

export interface WorkerProcess {
  logs(): Array<Record<string, unknown>>;
  output(): string;
  /** SIGTERM and wait for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `sesame worker` on `databaseUrl` with the config file `config`; resolves once it says it runs. */
export async function startWorkerProcess(databaseUrl: string, config: Record<string, unknown>, env: Record<string, string> = {}): Promise<WorkerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-worker-'));
  const configFile = join(dir, 'sesame.json');
  writeFileSync(configFile, JSON.stringify(config));
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'worker'], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'info', DATABASE_URL: databaseUrl, SESAME_CONFIG: configFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logs = () =>
    out.split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const worker: WorkerProcess = {
    logs,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`sesame worker exited ${child.exitCode}:\n${out.slice(-3000)}`);
        return logs().some((l) => l.msg === 'delivery worker running');
      },
      { timeout: 90_000, interval: 100, what: 'sesame worker to start' },
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return worker;
}
