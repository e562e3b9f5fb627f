// `sesame serve --workers N`: node:cluster runs N copies of the server on one port, so one host uses
// every core. The primary prepares the database once (migrations, keys, secrets) so the copies never
// race for it, forks them, replaces one that dies, and on SIGTERM/SIGINT stops them all gracefully.
// Everything the copies share (sessions, codes, rate limits, the outbox) is in the database already.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { LoadedConfig } from './config/load.js';
import type { Logger } from './log.js';
import { prepare } from './server.js';
import { answerGroupScrapes } from './metrics/cluster.js';

export function workerCount(setting: LoadedConfig['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

// A copy that keeps dying right after its start (port taken, database gone) is not restarted forever.
const RESTART_WINDOW_MS = 60_000;
const MAX_RESTARTS_IN_WINDOW = 5;
const STOP_GRACE_MS = 30_000;

/** Runs in the primary process: prepares, forks `count` workers, supervises them. */
export async function runPrimary(config: LoadedConfig, count: number, log: Logger): Promise<void> {
  const { db } = await prepare(config, log);
  await db.close();
  let stopping = false;
  const restarts: number[] = [];
  const fork = () => cluster.fork();

  cluster.on('exit', (worker: Worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info('all workers stopped');
        process.exit(); // with the exitCode stop() set
      }
      return;
    }
    const now = Date.now();
    while (restarts.length && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length >= MAX_RESTARTS_IN_WINDOW) {
      log.fatal({ pid: worker.process.pid, exitCode: code, signal }, `worker died ${MAX_RESTARTS_IN_WINDOW + 1} times within a minute; stopping (see the worker's last log lines)`);
      stop(1);
      return;
    }
    restarts.push(now);
    log.error({ pid: worker.process.pid, exitCode: code, signal }, 'worker died; starting another');
    fork();
  });

  function stop(exitCode: number) {
    if (stopping) return;
    stopping = true;
    process.exitCode = exitCode;
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker?.process.kill('SIGTERM');
    setTimeout(() => {
      log.warn('workers did not stop in time; killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(exitCode || 1);
    }, STOP_GRACE_MS).unref();
  }
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));

  if (config.metrics.enabled) answerGroupScrapes();
  for (let i = 0; i < count; i++) fork();
  log.info({ workers: count, port: config.port }, 'sesame primary started its workers');
}
