// The scenarios: what autocannon sends to a target (or, for code_flow, passkey_signin, mfa_otp and
// mail_handoff, attempts run in a loop: bench/loop.ts), a measured round of it with the server's CPU
// time and resident memory sampled meanwhile (over its process tree: a primary and its cluster
// workers), and a scenario's rounds on a target combined into one row.
import autocannon from 'autocannon';
import { ACTIONS, signsIn, trackRequest } from './actions.js';
import { HANDOFF, handoffLoop } from './handoff.js';
import { addressPrefix, basicAuth, signIn, startBody, type OtpCode, type Tokens } from './flows.js';
import { loop, timed, type Load } from './loop.js';
import { SLOW_DOMAIN, type BenchMail } from './mail.js';
import { MFA, mfaLoop, type MfaUser } from './mfa.js';
import { PASSKEY, passkeyLoop } from './passkeys.js';
import type { SoftAuthenticator } from '../test/helpers/soft-authenticator.js';
import { API, CLIENT, cpuBetween, RISK_CLIENT, machineBusySeconds, OTP_GRANT, postgresCpuSeconds, treeCpuSeconds, treeRssMiB, type Target } from './targets.js';

// passwordless_start last: the slow SMTP server leaves Sesame's outbox a backlog that takes minutes
// to deliver, and the codes of any later sign-in would wait behind it.
export const SCENARIOS = [
  'discovery',
  'jwks',
  'client_credentials',
  'refresh',
  'userinfo',
  'introspection',
  'otp_grant',
  MFA,
  PASSKEY,
  'code_flow',
  ...ACTIONS,
  HANDOFF,
  'passwordless_start',
] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** The scenarios autocannon sends (the others run loops of their own). */
type Loaded = Exclude<Scenario, `code_flow${string}` | typeof HANDOFF | typeof MFA | typeof PASSKEY>;
export const NEEDS_POOL: ReadonlySet<Scenario> = new Set(['refresh', 'userinfo', 'introspection']);
/** Endpoints the baseline does not have. */
export const SESAME_ONLY: ReadonlySet<Scenario> = new Set(['otp_grant', MFA, PASSKEY, ...ACTIONS, HANDOFF, 'passwordless_start']);
/** Sign-ins in flight at once in code_flow (at most `--connections`): people, not API clients. */
export const CODE_FLOW_CONCURRENCY = 10;

export interface Measurement {
  scenario: Scenario;
  target: Target['name'];
  /** Server processes: cluster workers of `sesame serve --workers`, or 1. */
  workers: number;
  /** Requests per second over all rounds; for code_flow, completed sign-ins per second. */
  rps: number;
  /** Requests per second of each round, in the order they ran (interleaved with the other targets'). */
  rounds: number[];
  /** Latency in ms; for code_flow, of a whole sign-in (mail delivery included). */
  p50: number;
  p99: number;
  requests: number;
  /** Socket errors and timeouts; for code_flow, sign-ins that failed. */
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
  /** Refresh and OTP grant only: requests sent with no fresh token or code left (the pool ran dry). */
  poolDry?: number;
  /** Introspection only: answers saying the token is not active. */
  inactive?: number;
  /** code_flow only: why the first failed sign-in failed. */
  failure?: string;
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

/** What the scenarios run against one target share: single-use tokens and codes, and counts of bad answers. */
export interface State {
  /** The access tokens userinfo and introspection send: the pool's, replaced by those refresh answers
   *  bring, so that they outlive the pool's when access tokens are short-lived (the soak). */
  accessTokens: string[];
  /** Refresh tokens not used yet. */
  refreshTokens: string[];
  /** OTP codes not used yet. */
  otpCodes: OtpCode[];
  /** mfa_otp's users with an authenticator app, not signed in yet. */
  mfaUsers: MfaUser[];
  /** passkey_signin's users' devices, each with a passkey. */
  passkeys: SoftAuthenticator[];
  /** Addresses passwordless_start sent codes to so far; each request takes a new one. */
  sent: number;
  /** Access tokens refresh answered so far: each replaces the pool's next, oldest first. */
  refreshed: number;
  /** Requests sent with no fresh refresh token or OTP code left. */
  dry: number;
  /** Introspection answers of `active: false` (a 200 that means the token was not found). */
  inactive: number;
}

export function newState(pool: Tokens[]): State {
  return {
    accessTokens: pool.map((t) => t.access_token),
    refreshTokens: pool.map((t) => t.refresh_token),
    otpCodes: [],
    mfaUsers: [],
    passkeys: [],
    sent: 0,
    refreshed: 0,
    dry: 0,
    inactive: 0,
  };
}

/** The request of connection `n` in an autocannon scenario; refresh and otp_grant consume their pools. */
function requestOf(scenario: Loaded, target: Target, state: State, n: number): Request {
  let i = n;
  const nextAccessToken = () => state.accessTokens[i++ % state.accessTokens.length]!;
  switch (scenario) {
    case 'discovery':
      return { method: 'GET', path: '/.well-known/openid-configuration' };
    case 'actions_track':
      return trackRequest(target);
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
          const tokens = JSON.parse(body) as Partial<Tokens>;
          if (tokens.refresh_token) state.refreshTokens.push(tokens.refresh_token);
          // One count for all connections: each connection's own walked the pool in step with the
          // others', replacing the same slots, and under load the rest outlived their 60 s (the soak's 401s).
          if (tokens.access_token) state.accessTokens[state.refreshed++ % state.accessTokens.length] = tokens.access_token;
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
    case 'otp_grant':
      // The client authenticates in the body, as Auth0's SDKs for native apps do.
      return {
        method: 'POST',
        path: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest(r) {
          const otp = state.otpCodes.shift();
          if (!otp) state.dry++;
          const { email, code } = otp ?? { email: 'pool-ran-dry@bench.test', code: '000000' };
          const body = { grant_type: OTP_GRANT, client_id: CLIENT.client_id, client_secret: CLIENT.client_secret, username: email, otp: code, realm: 'email', scope: 'openid' };
          return { ...r, body: new URLSearchParams(body).toString() };
        },
      };
    case 'passwordless_start': {
      const prefix = addressPrefix('start', target);
      return {
        method: 'POST',
        path: '/passwordless/start',
        headers: { 'content-type': 'application/json' },
        setupRequest: (r) => ({ ...r, body: startBody(`${prefix}-${state.sent++}@${SLOW_DOMAIN}`) }),
      };
    }
  }
}

/**
 * One autocannon instance of one connection per connection, run together and aggregated:
 * autocannon shares a request object among the connections of an instance, and builds the first
 * request of each from it before any is sent, so they would all send the same (single-use) token.
 */
export async function cannon(target: Target, scenario: Loaded, state: State, connections: number, duration: number): Promise<Load> {
  const { url } = target;
  const results = await Promise.all(
    Array.from({ length: connections }, (_, n) => autocannon({ url, connections: 1, duration, requests: [requestOf(scenario, target, state, n)], skipAggregateResult: true })),
  );
  const result = autocannon.aggregateResult(results, { url, connections });
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
  };
}

/**
 * code_flow: `concurrency` users each signing in through the hosted pages' forms (bench/flows.ts),
 * one after the other. autocannon cannot carry cookies and a mailed code from one step to the next.
 */
function signInLoop(target: Target, mail: BenchMail, concurrency: number, seconds: number, client: typeof CLIENT): Promise<Load> {
  const prefix = addressPrefix(`flow-${client.client_id}`, target);
  return loop(concurrency, seconds, (n) => timed(() => signIn(target, `${prefix}-${n}`, mail, client)));
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

/** Where the CPU went during some work, in % of one core, and the server's peak resident memory. */
export interface Usage {
  cpu: number;
  loadCpu: number;
  dbCpu: number;
  otherCpu: number;
  rssPeakMiB: number;
}

/** Runs `work` while sampling the target's CPU and memory. */
export async function sampled<T>(target: Target, work: () => Promise<T>): Promise<{ result: T; usage: Usage }> {
  let rssPeak = treeRssMiB(target.pid);
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, treeRssMiB(target.pid))), 250);
  const db = () => (target.name === 'postgresql' ? postgresCpuSeconds() : new Map<number, number>());
  const before = { server: treeCpuSeconds(target.pid), self: process.cpuUsage(), db: db(), machine: machineBusySeconds() };
  const started = performance.now();
  const result = await work();
  const elapsed = (performance.now() - started) / 1000;
  const percent = (seconds: number) => (seconds / elapsed) * 100;
  const self = process.cpuUsage(before.self);
  const cpu = percent(cpuBetween(before.server, treeCpuSeconds(target.pid)));
  const loadCpu = percent((self.user + self.system) / 1e6);
  const dbCpu = percent(cpuBetween(before.db, db()));
  const otherCpu = Math.max(0, percent(machineBusySeconds() - before.machine) - cpu - loadCpu - dbCpu);
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, treeRssMiB(target.pid));
  return { result, usage: { cpu, loadCpu, dbCpu, otherCpu, rssPeakMiB: rssPeak } };
}

/** The load of one scenario on one target: what runs for `seconds` (a warm-up or a round). */
export function loadOf(target: Target, scenario: Scenario, state: State, mail: BenchMail, connections: number): (seconds: number) => Promise<Load> {
  const people = Math.min(connections, CODE_FLOW_CONCURRENCY);
  return (seconds) =>
    signsIn(scenario)
      ? signInLoop(target, mail, people, seconds, scenario === 'code_flow_risk' ? RISK_CLIENT : CLIENT)
      : scenario === HANDOFF
        ? handoffLoop(target, mail, people, seconds)
        : scenario === MFA
          ? mfaLoop(target, state.mfaUsers, people, seconds)
          : scenario === PASSKEY
            ? passkeyLoop(target, state.passkeys, people, seconds)
            : cannon(target, scenario, state, connections, seconds);
}

export type Round = Awaited<ReturnType<typeof sampled<Load>>>;

const median = (values: number[]) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? (sorted[(sorted.length - 1) >> 1]! + sorted[sorted.length >> 1]!) / 2 : NaN;
};

/**
 * One scenario on one target over its measured rounds: requests and errors summed, req/s over the
 * rounds' total time, p50 and p99 the median of the rounds' (a round on a busy second does not make
 * the tail), CPU averaged over the time, memory at its peak. `state`'s counts are those of the rounds.
 */
export function combine(target: Target, scenario: Scenario, rounds: Round[], state: State): Measurement {
  const seconds = rounds.reduce((sum, r) => sum + r.result.seconds, 0);
  const sum = (f: (r: Round) => number) => rounds.reduce((total, r) => total + f(r), 0);
  const timeShare = (f: (u: Usage) => number) => sum((r) => f(r.usage) * r.result.seconds) / seconds;
  const statusCodes: Record<string, number> = {};
  for (const r of rounds) for (const [code, n] of Object.entries(r.result.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const failure = rounds.find((r) => r.result.failure)?.result.failure;
  const requests = sum((r) => r.result.requests);
  return {
    scenario,
    target: target.name,
    workers: target.workers,
    rps: requests / seconds,
    rounds: rounds.map((r) => r.result.requests / r.result.seconds),
    p50: median(rounds.map((r) => r.result.p50)),
    p99: median(rounds.map((r) => r.result.p99)),
    requests,
    errors: sum((r) => r.result.errors),
    non2xx: sum((r) => r.result.non2xx),
    statusCodes,
    cpu: timeShare((u) => u.cpu),
    loadCpu: timeShare((u) => u.loadCpu),
    dbCpu: timeShare((u) => u.dbCpu),
    otherCpu: timeShare((u) => u.otherCpu),
    rssPeakMiB: Math.max(...rounds.map((r) => r.usage.rssPeakMiB)),
    ...(scenario === 'refresh' || scenario === 'otp_grant' ? { poolDry: state.dry } : {}),
    ...(scenario === 'introspection' ? { inactive: state.inactive } : {}),
    ...(failure ? { failure } : {}),
  };
}
