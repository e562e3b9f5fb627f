// One scrape for the whole process group under `sesame serve --workers N`. The port is shared by
// node:cluster, so whichever worker gets GET /metrics asks the primary over IPC; the primary asks
// every listening worker for its registry (as JSON), merges them with prom-client's aggregation
// (counters and histograms summed, shared-database gauges by max) and answers the asker.
// Only workers that listen are asked: one still starting has no metrics yet, and asking it would
// stall the scrape. Without a cluster, the process's own registry is the answer.
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { registry } from './registry.js';

const SCRAPE = 'sesame:metrics:scrape';
const SCRAPED = 'sesame:metrics:scraped';
const COLLECT = 'sesame:metrics:collect';
const COLLECTED = 'sesame:metrics:collected';
/** Longest wait for the other processes: a scrape answers 503 rather than hang (Prometheus times out at 10 s by default). */
const TIMEOUT_MS = 5000;

type Metrics = Array<MetricObjectWithValues<MetricValue<string>>>;
interface Message {
  type?: string;
  id?: string;
  text?: string;
  metrics?: Metrics;
  error?: string;
}

/** Resolves with the answer to message `id` of type `type` (from `on`), or rejects after the timeout. */
function awaitAnswer<T>(listen: (handler: (m: Message) => void) => () => void, type: string, id: string, take: (m: Message) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error('metrics: a process of the group did not answer in time'));
    }, TIMEOUT_MS);
    const stop = listen((m) => {
      if (m?.type !== type || m.id !== id) return;
      clearTimeout(timer);
      stop();
      if (m.error) reject(new Error(m.error));
      else resolve(take(m));
    });
  });
}

/**
 * Sends over IPC with a callback, so a closed channel (the other process gone) rejects the scrape
 * instead of raising an 'error' event nobody handles; resolves never (the answer comes as a message).
 */
function sent(send: (done: (err: Error | null) => void) => unknown): Promise<never> {
  return new Promise((_, reject) => void send((err) => err && reject(err)));
}

/** The exposition text: this process's metrics, or in a cluster worker, those of the whole group. */
export async function exposition(): Promise<string> {
  if (!cluster.isWorker) return registry.metrics();
  const id = randomUUID();
  const answer = awaitAnswer(
    (handler) => {
      process.on('message', handler);
      return () => process.off('message', handler);
    },
    SCRAPED,
    id,
    (m) => m.text ?? '',
  );
  return Promise.race([answer, sent((done) => process.send!({ type: SCRAPE, id }, done))]);
}

export const contentType = registry.contentType;

// The primary gone means the process is stopping: nothing to do about an answer that cannot leave.
const ignore = () => undefined;
let offered = false;
/** In a worker: hands this process's metrics to the primary when it asks (from before it listens, when it starts being asked). */
export function offerMetricsToPrimary(): void {
  if (offered) return;
  offered = true;
  process.on('message', (m: Message) => {
    if (m?.type !== COLLECT) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send!({ type: COLLECTED, id: m.id, metrics }, ignore),
      (err: unknown) => process.send!({ type: COLLECTED, id: m.id, error: (err as Error).message }, ignore),
    );
  });
}

/** In the primary: answers each worker's scrape with the metrics of every listening worker. */
export function answerGroupScrapes(): void {
  const listening = new Set<Worker>();
  cluster.on('listening', (worker) => listening.add(worker));
  cluster.on('disconnect', (worker) => listening.delete(worker));
  cluster.on('exit', (worker) => listening.delete(worker));
  cluster.on('message', (asker: Worker, m: Message) => {
    if (m?.type !== SCRAPE) return;
    // A worker gone meanwhile is not an error of the primary's: the callback keeps a failed send from
    // becoming an unhandled 'error' event.
    const reply = (answer: Message) => asker.isConnected() && asker.send(answer, () => undefined);
    groupMetrics([...listening]).then(
      (text) => reply({ type: SCRAPED, id: m.id, text }),
      (err: unknown) => reply({ type: SCRAPED, id: m.id, error: (err as Error).message }),
    );
  });
}

async function groupMetrics(workers: Worker[]): Promise<string> {
  const answers = workers.map((worker) => {
    const id = randomUUID();
    const answer = awaitAnswer(
      (handler) => {
        const onMessage = (m: Message) => handler(m);
        worker.on('message', onMessage);
        return () => worker.off('message', onMessage);
      },
      COLLECTED,
      id,
      (m) => m.metrics ?? [],
    );
    return Promise.race([answer, sent((done) => worker.send({ type: COLLECT, id }, done))]);
  });
  return AggregatorRegistry.aggregate(await Promise.all(answers)).metrics();
}
