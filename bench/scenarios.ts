// The scenarios: what autocannon sends to a target, and one measured run of it (after a warm-up),
// with the server process's CPU time and resident memory sampled meanwhile.
import autocannon from 'autocannon';
import { basicAuth, type Tokens } from './flows.js';
import { API, cpuSeconds, machineBusySeconds, postgresCpuBetween, postgresCpuSeconds, rssMiB, type Target } from './targets.js';

export const SCENARIOS = ['discovery', 'jwks', 'client_credentials', 'refresh', 'userinfo', 'introspection'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export const NEEDS_POOL: ReadonlySet<Scenario> = new Set(['refresh', 'userinfo', 'introspection']);

export interface Measurement {
  scenario: Scenario;
  target: Target['name'];
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** Socket errors and timeouts. */
  errors: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Server CPU over the measured run, in % of one core. */
  cpu: number;
  /** CPU of the load generator (this process) and of PostgreSQL (its target only), in % of one core. */
  loadCpu: number;
  dbCpu: number;
  /** CPU of everything else on the machine meanwhile (other jobs: noise), in % of one core. */
  otherCpu: number;
  rssPeakMiB: number;
  /** Refresh only: requests sent with no fresh token left (the pool ran dry). */
  poolDry?: number;
  /** Introspection only: answers saying the token is not active. */
  inactive?: number;
}

const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth };

type Request = {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (r: Request) => Request;
  onResponse?: (status: number, body: string) => void;
};

/** What the scenarios share: the pool, the refresh tokens not used yet, and counts of bad answers. */
interface State {
  pool: Tokens[];
  refreshTokens: string[];
  /** Refresh requests sent with no fresh token left. */
  dry: number;
  /** Introspection answers of `active: false` (a 200 that means the token was not found). */
  inactive: number;
}

/** The request of connection `n` in a scenario; refresh consumes `refreshTokens` and puts the rotated ones back. */
function requestOf(scenario: Scenario, state: State, n: number): Request {
  let i = n;
  const nextAccessToken = () => state.pool[i++ % state.pool.length]!.access_token;
  switch (scenario) {
    case 'discovery':
      return { method: 'GET', path: '/.well-known/openid-configuration' };
    case 'jwks':
      return { method: 'GET', path: '/.well-known/jwks.json' };
    case 'client_credentials':
      return {
        method: 'POST',
        path: '/oauth/token',
        headers: form,
        body: new URLSearchParams({ grant_type: 'client_credentials', audience: API.identifier, scope: 'read' }).toString(),
      };
    case 'refresh':
      return {
        method: 'POST',
        path: '/oauth/token',
        headers: form,
        setupRequest(r) {
          const token = state.refreshTokens.shift();
          if (!token) state.dry++;
          return { ...r, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token ?? 'pool-ran-dry' }).toString() };
        },
        onResponse(status, body) {
          if (status !== 200) return;
          const rotated = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
          if (rotated) state.refreshTokens.push(rotated);
        },
      };
    case 'userinfo':
      return { method: 'GET', path: '/userinfo', setupRequest: (r) => ({ ...r, headers: { authorization: `Bearer ${nextAccessToken()}` } }) };
    case 'introspection':
      return {
        method: 'POST',
        path: '/oauth/introspect',
        headers: form,
        setupRequest: (r) => ({ ...r, body: new URLSearchParams({ token: nextAccessToken(), token_type_hint: 'access_token' }).toString() }),
        onResponse(status, body) {
          if (status === 200 && !body.includes('"active":true')) state.inactive++;
        },
      };
  }
}

/**
 * One autocannon instance of one connection per connection, run together and aggregated:
 * autocannon shares a request object among the connections of an instance, and builds the first
 * request of each from it before any is sent, so they would all send the same (single-use) token.
 */
async function cannon(url: string, scenario: Scenario, state: State, connections: number, duration: number) {
  const results = await Promise.all(
    Array.from({ length: connections }, (_, n) =>
      autocannon({ url, connections: 1, duration, requests: [requestOf(scenario, state, n)], skipAggregateResult: true }),
    ),
  );
  return autocannon.aggregateResult(results, { url, connections });
}

export interface RunOptions {
  connections: number;
  duration: number;
  warmup: number;
}

/**
 * Waits (at most `seconds`) until the rest of the machine uses less than a third of a core over
 * a second: other jobs on a 2-core machine move the numbers a lot. Returns whether it got quiet.
 */
export async function waitQuiet(seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const before = machineBusySeconds();
    await new Promise((r) => setTimeout(r, 1000));
    if (machineBusySeconds() - before < 0.33) return true;
    if (Date.now() >= deadline) return false;
  }
}

/** Warms up, then measures one scenario against one target. */
export async function measure(target: Target, scenario: Scenario, pool: Tokens[], refreshTokens: string[], o: RunOptions): Promise<Measurement> {
  const state: State = { pool, refreshTokens, dry: 0, inactive: 0 };
  if (o.warmup > 0) await cannon(target.url, scenario, state, o.connections, o.warmup);
  state.dry = 0;
  state.inactive = 0;
  let rssPeak = rssMiB(target.pid);
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(target.pid))), 250);
  const db = () => (target.name === 'postgresql' ? postgresCpuSeconds() : new Map<number, number>());
  const before = { server: cpuSeconds(target.pid), self: process.cpuUsage(), db: db(), machine: machineBusySeconds() };
  const started = performance.now();
  const result = await cannon(target.url, scenario, state, o.connections, o.duration);
  const elapsed = (performance.now() - started) / 1000;
  const percent = (seconds: number) => (seconds / elapsed) * 100;
  const self = process.cpuUsage(before.self);
  const cpu = percent(cpuSeconds(target.pid) - before.server);
  const loadCpu = percent((self.user + self.system) / 1e6);
  const dbCpu = percent(postgresCpuBetween(before.db, db()));
  const otherCpu = Math.max(0, percent(machineBusySeconds() - before.machine) - cpu - loadCpu - dbCpu);
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, rssMiB(target.pid));
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]));
  return {
    scenario,
    target: target.name,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    cpu,
    loadCpu,
    dbCpu,
    otherCpu,
    rssPeakMiB: rssPeak,
    ...(scenario === 'refresh' ? { poolDry: state.dry } : {}),
    ...(scenario === 'introspection' ? { inactive: state.inactive } : {}),
  };
}
