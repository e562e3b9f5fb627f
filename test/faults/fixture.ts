// Shared by the fault-injection tests: the API clients, limits out of the way (these tests send
// many codes from one IP on purpose), and small HTTP helpers that never throw on a status.
import { expect } from 'vitest';
import { apiFixture, OTP } from '../api/fixture.js';
import { pollUntil, waitFor } from '../helpers/wait.js';
import type { TcpProxy } from '../helpers/tcp-proxy.js';

export { OTP };
export const NATIVE = apiFixture.clients[0]!;
export const BACKEND = { client_id: 'backend', client_secret: 'backend-secret-backend-secret-xx' };

export const faultFixture = {
  ...apiFixture,
  rateLimits: {
    sendsPerIpPerHour: 100_000,
    verifiesPerIpPerMinute: 100_000,
    sendsPerClientPerHour: 100_000,
    otpGrantsPerClientPerMinute: 100_000,
    publicSendsPerIpPerHour: 100_000,
  },
};

/** A sentence telling to retry shortly. */
export const RETRY = /\b(re-?try|try)\b/i;
/** The body every request that needs an unreachable database answers with (503). */
export const UNAVAILABLE = {
  error: 'temporarily_unavailable',
  error_description: expect.stringMatching(RETRY),
};
/** /readyz while the database cannot be reached (503). */
export const NOT_READY = { status: 'unavailable', database: 'unreachable' };

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Answer {
  status: number;
  /** Parsed JSON when the body is JSON, the text otherwise. */
  body: unknown;
  contentType: string;
}

/** Reads a response fully; JSON bodies parsed. */
export async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  let body: unknown = text;
  if (contentType.includes('json')) {
    try {
      body = JSON.parse(text);
    } catch {
      // left as text: the assertion shows it
    }
  }
  return { status: res.status, body, contentType };
}

const TIMEOUT = 15_000;

export function startCode(url: string, email: string): Promise<Answer> {
  return fetch(`${url}/passwordless/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' }),
    signal: AbortSignal.timeout(TIMEOUT),
  }).then(answer);
}

export function otpGrant(url: string, email: string, otp: string, scope = 'openid email'): Promise<Answer> {
  return fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: OTP, client_id: 'native', client_secret: NATIVE.client_secret!, username: email, otp, realm: 'email', scope }),
    signal: AbortSignal.timeout(TIMEOUT),
  }).then(answer);
}

export function clientCredentials(url: string): Promise<Answer> {
  return fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${BACKEND.client_id}:${BACKEND.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
    signal: AbortSignal.timeout(TIMEOUT),
  }).then(answer);
}

export function userinfo(url: string, accessToken: string): Promise<Answer> {
  return fetch(`${url}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` }, signal: AbortSignal.timeout(TIMEOUT) }).then(answer);
}

export function introspect(url: string, token: string): Promise<Answer> {
  return fetch(`${url}/oauth/introspect`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${BACKEND.client_id}:${BACKEND.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }),
    signal: AbortSignal.timeout(TIMEOUT),
  }).then(answer);
}

export function get(url: string): Promise<Answer> {
  return fetch(url, { signal: AbortSignal.timeout(TIMEOUT) }).then(answer);
}

/** Log lines with this message (pino's `msg`). */
export function logged(lines: Array<Record<string, unknown>>, msg: string): Array<Record<string, unknown>> {
  return lines.filter((l) => l.msg === msg);
}

// ---------------------------------------------------------------------------------------------
// The outage tests' shape: a load loop per kind of request, phases around a cut, /readyz watched.

/** How long the database stays cut off. */
const OUTAGE_MS = 5000;
// Only bounds the wait for /readyz after the restore (a loaded machine is slow to reconnect).
const RECOVERY_MS = 30_000;

export type Phase = 'before' | 'outage' | 'recovering' | 'after';

export interface Sample<K extends string> {
  kind: K;
  /** Phase when the request was sent. */
  phase: Phase;
  at: number;
  ms: number;
  answer?: Answer;
  /** A request that never got an HTTP answer (reset, refused, timeout). */
  error?: string;
  email?: string;
}

export interface Load<K extends string> {
  kinds: K[];
  samples: Array<Sample<K>>;
  /** The phase the next requests are sent in. */
  phase: Phase;
  /** Ends the loops after the request each is in. */
  stop(): Promise<void>;
}

/** One loop per kind, each sending its request again `paceMs` after the last answer, until stopped. */
export function startLoad<K extends string>(requests: Record<K, () => Promise<{ answer: Answer; email?: string }>>, paceMs: number): Load<K> {
  const kinds = Object.keys(requests) as K[];
  let running = true;
  const load: Load<K> = {
    kinds,
    samples: [],
    phase: 'before',
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
  const loops = kinds.map(async (kind) => {
    while (running) {
      const sample: Sample<K> = { kind, phase: load.phase, at: Date.now(), ms: 0 };
      try {
        Object.assign(sample, await requests[kind]());
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        sample.error = `${(err as Error).name}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`;
      }
      sample.ms = Date.now() - sample.at;
      load.samples.push(sample);
      await sleep(paceMs); // paces the load; not a wait for anything
    }
  });
  return load;
}

/** `/readyz` (with ms since the cut) and `/healthz` every 250 ms until `outageMs` after `cutAt`. */
async function watchOutage(url: string, cutAt: number, outageMs: number): Promise<{ ready: Array<Answer & { at: number }>; live: Answer[] }> {
  const ready: Array<Answer & { at: number }> = [];
  const live: Answer[] = [];
  while (Date.now() - cutAt < outageMs) {
    const [r, l] = await Promise.all([get(`${url}/readyz`), get(`${url}/healthz`)]);
    ready.push({ ...r, at: Date.now() - cutAt });
    live.push(l);
    await sleep(250); // samples the outage's whole length: the test asserts on every answer in it
  }
  return { ready, live };
}

/** Polls `/readyz` until 200 or `limitMs` after `restoredAt`; `recoveredAfter` is undefined if it never came. */
async function waitForReady(url: string, restoredAt: number, limitMs: number): Promise<{ recoveredAfter?: number; readyAfter: Answer[] }> {
  const readyAfter: Answer[] = [];
  const ready = async () => {
    const r = await get(`${url}/readyz`);
    readyAfter.push(r);
    return r.status === 200 && { recoveredAfter: Date.now() - restoredAt };
  };
  const recovered = await pollUntil(ready, { timeout: limitMs - (Date.now() - restoredAt), interval: 200 });
  return { ...recovered, readyAfter };
}

/** Waits for three answers of each kind sent after the recovery (the checks look at the last three), then stops the load. */
async function finishLoad<K extends string>(load: Load<K>): Promise<void> {
  await waitFor(() => load.kinds.every((kind) => load.samples.filter((x) => x.kind === kind && x.phase === 'after').length >= 3), {
    timeout: 60_000,
    what: 'three answers of each kind after the recovery',
  });
  await load.stop();
}

export interface Outage {
  cutAt: number;
  /** `/readyz` during the outage, with ms since the cut, and `/healthz` beside it. */
  ready: Array<Answer & { at: number }>;
  live: Answer[];
  /** Ms from the restore to the first `/readyz` 200; undefined if it never came. */
  recoveredAfter?: number;
  /** The `/readyz` answers after the restore. */
  readyAfter: Answer[];
}

/**
 * Cuts the database off under a running load for OUTAGE_MS (watching `/readyz` and `/healthz` of
 * `url`), restores it, waits for `/readyz`, then for three answers of each kind sent after; the
 * load's phase follows along. The load is stopped when this returns.
 */
export async function throughOutage<K extends string>(load: Load<K>, url: string, proxy: Pick<TcpProxy, 'cut' | 'restore'>): Promise<Outage> {
  const cutAt = Date.now();
  load.phase = 'outage';
  await proxy.cut();
  const { ready, live } = await watchOutage(url, cutAt, OUTAGE_MS);
  await proxy.restore();
  load.phase = 'recovering';
  const { recoveredAfter, readyAfter } = await waitForReady(url, Date.now(), RECOVERY_MS);
  load.phase = 'after';
  await finishLoad(load);
  return { cutAt, ready, live, recoveredAfter, readyAfter };
}

/**
 * What every outage test asks of its load, `normal` being each kind's status without an outage: no
 * request lost its connection, whatever was answered before the cut was normal, requests sent
 * during the outage got 503s, and the last three of each kind after the recovery are normal again.
 * `show` is how the test prints a sample in a failure.
 */
export function expectLoadThroughOutage<K extends string>(samples: Array<Sample<K>>, cutAt: number, normal: Record<K, number>, show: (x: Sample<K>) => unknown): void {
  const all = JSON.stringify(summary(samples));
  expect.soft(samples.filter((x) => x.error).map(show), `socket errors; all samples: ${all}`).toEqual([]);
  expect.soft(samples.filter((x) => x.at + x.ms < cutAt && x.answer?.status !== normal[x.kind]).map(show), 'answered before the cut').toEqual([]);
  expect.soft(samples.filter((x) => x.phase === 'outage' && x.answer?.status === 503).length, `503s during the outage: ${all}`).toBeGreaterThan(0);
  for (const kind of Object.keys(normal) as K[]) {
    const after = samples.filter((x) => x.kind === kind && x.phase === 'after');
    expect(after.length, kind).toBeGreaterThan(0);
    expect(after.slice(-3).map(show), `${kind} after recovery`).toEqual(after.slice(-3).map(() => expect.objectContaining({ status: normal[kind] })));
  }
}

/** Counts of samples by phase, kind and status (or socket error), for assertion messages. */
export function summary<K extends string>(samples: Array<Sample<K>>): Record<string, number> {
  return samples.reduce<Record<string, number>>((acc, x) => {
    const key = `${x.phase} ${x.kind} ${x.error ? 'socket error' : x.answer!.status}`;
    acc[key] = (acc[key] ?? 0) + 1;
    return acc;
  }, {});
}

/** During the outage: /healthz always 200, /readyz 503 within 3 s of the cut and from then on. */
export function expectReadinessDuringOutage(ready: Array<Answer & { at: number }>, live: Answer[]): void {
  expect
    .soft(
      live.map((l) => l.status),
      '/healthz during the outage',
    )
    .toEqual(live.map(() => 200));
  const firstDown = ready.findIndex((r) => r.status === 503);
  expect.soft(firstDown, `a /readyz answered 503 during the outage: ${JSON.stringify(ready)}`).toBeGreaterThanOrEqual(0);
  if (firstDown >= 0) {
    expect.soft(ready[firstDown]!.at, 'ms from the cut to the first /readyz 503').toBeLessThan(3000);
    expect
      .soft(
        ready.slice(firstDown).map((r) => ({ status: r.status, body: r.body })),
        '/readyz once down',
      )
      .toEqual(ready.slice(firstDown).map(() => ({ status: 503, body: NOT_READY })));
  }
}
