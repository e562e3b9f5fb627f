// Sesame's Prometheus metrics, each defined once here by name. Counters move where the event they
// count is already recorded (the audit log, the stored decision, the delivery worker, the request
// middleware), so a metric cannot drift from the record. Gauges of shared state (the outbox, the
// signing keys, the database pool) are read when scraped, from the source the server registers.
// A base-layer leaf: storage and delivery call in, and it imports nothing of Sesame.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
const registers = [registry];

/** Requests by method, route pattern (never the raw path) and status; its `_count` is the request counter. */
export const httpRequests = new Histogram({
  name: 'sesame_http_request_duration_seconds',
  help: 'HTTP requests by method, matched route pattern and status, and their duration in seconds.',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers,
});

export const signIns = new Counter({
  name: 'sesame_sign_ins_total',
  help: 'Sign-in attempts by method (email_code, sms_code, link, passkey, external) and outcome (success, failure).',
  labelNames: ['method', 'outcome'] as const,
  registers,
});

export const codes = new Counter({
  name: 'sesame_codes_total',
  help: 'One-time codes by channel (email, sms) and outcome (sent, verified, failed, limited: a send refused by a limit, refused: an SMS number refused).',
  labelNames: ['channel', 'outcome'] as const,
  registers,
});

export const links = new Counter({
  name: 'sesame_links_total',
  help: 'Magic links by outcome (used: signed in, approved: approved for another device, failed).',
  labelNames: ['outcome'] as const,
  registers,
});

export const secondFactors = new Counter({
  name: 'sesame_second_factors_total',
  help: 'Second-factor checks by outcome (verified, failed).',
  labelNames: ['outcome'] as const,
  registers,
});

export const decisions = new Counter({
  name: 'sesame_action_decisions_total',
  help: 'Risk decisions stored (actions API and Sesame sign-ins) by outcome (ALLOW, CHALLENGE, REVIEW, BLOCK).',
  labelNames: ['outcome'] as const,
  registers,
});

export const deliveries = new Counter({
  name: 'sesame_deliveries_total',
  help: 'Delivery attempts by channel (email, sms, webhook) and outcome (sent, captured, skipped, retry: failed and retried later, failed: given up).',
  labelNames: ['channel', 'outcome'] as const,
  registers,
});

/** What the gauges read when scraped; the server registers one per running instance (server.ts). */
export interface ScrapeSource {
  outbox(): Promise<{ pending: number; oldestAt: Date | null }>;
  /** Every signing key; the newest active one of each algorithm signs. */
  signingKeys(): Promise<ReadonlyArray<{ alg: string; createdAt: Date; retiredAt: Date | null }>>;
  /** The PostgreSQL pool now; null on SQLite (one connection, no pool). */
  pool(): { total: number; idle: number; waiting: number; max: number } | null;
}

// Several instances may run in one process (tests); the newest still running is the one read.
const sources: ScrapeSource[] = [];
const current = () => sources.at(-1);

// The two outbox gauges come from one query per scrape: both collects share the read in flight.
let outboxRead: Promise<{ pending: number; oldestAt: Date | null } | null> | undefined;
function readOutbox() {
  const source = current();
  if (!source) return Promise.resolve(null);
  // A database that does not answer leaves the last values: the scrape itself must still work.
  outboxRead ??= source
    .outbox()
    .catch(() => null)
    .finally(() => (outboxRead = undefined));
  return outboxRead;
}

// Every worker reads the same database, so a cluster-wide scrape takes the largest (`max`), not the sum.
new Gauge({
  name: 'sesame_outbox_pending_messages',
  help: 'Messages waiting in the outbox (not yet sent, given up or skipped).',
  aggregator: 'max',
  registers,
  async collect() {
    const read = await readOutbox();
    if (read) this.set(read.pending);
  },
});

new Gauge({
  name: 'sesame_outbox_oldest_pending_age_seconds',
  help: 'Age of the oldest message waiting in the outbox, in seconds (0 when none waits).',
  aggregator: 'max',
  registers,
  async collect() {
    const read = await readOutbox();
    if (read) this.set(read.oldestAt ? Math.max(0, (Date.now() - read.oldestAt.getTime()) / 1000) : 0);
  },
});

new Gauge({
  name: 'sesame_signing_key_age_seconds',
  help: 'Age of the signing key in use for each algorithm, in seconds (rotate with `sesame keys rotate`).',
  labelNames: ['alg'] as const,
  aggregator: 'max',
  registers,
  async collect() {
    const keys = await current()
      ?.signingKeys()
      .catch(() => undefined);
    if (!keys) return;
    this.reset();
    const newest = new Map<string, number>();
    for (const k of keys) if (!k.retiredAt) newest.set(k.alg, Math.max(newest.get(k.alg) ?? 0, k.createdAt.getTime()));
    for (const [alg, createdAt] of newest) this.set({ alg }, Math.max(0, (Date.now() - createdAt) / 1000));
  },
});

// Each worker has a pool of its own, so these sum across a cluster (prom-client's default).
new Gauge({
  name: 'sesame_db_pool_connections',
  help: 'PostgreSQL pool connections by state (busy, idle), and the pool size (max). None on SQLite.',
  labelNames: ['state'] as const,
  registers,
  collect() {
    const pool = current()?.pool();
    if (!pool) return;
    this.set({ state: 'busy' }, pool.total - pool.idle);
    this.set({ state: 'idle' }, pool.idle);
    this.set({ state: 'max' }, pool.max);
  },
});

new Gauge({
  name: 'sesame_db_pool_waiting_queries',
  help: 'Queries waiting for a free PostgreSQL pool connection. None on SQLite.',
  registers,
  collect() {
    const pool = current()?.pool();
    if (pool) this.set(pool.waiting);
  },
});

/** Reads the gauges from `source` until the returned function is called (the instance stopped). */
export function watchSource(source: ScrapeSource): () => void {
  sources.push(source);
  return () => {
    const at = sources.indexOf(source);
    if (at >= 0) sources.splice(at, 1);
  };
}

let processMetrics = false;
/** Node's process metrics (CPU, memory, event loop lag), started once, when metrics are served. */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry });
}
