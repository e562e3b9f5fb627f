// Shared by the fault-injection tests: the API clients, limits out of the way (these tests send
// many codes from one IP on purpose), and small HTTP helpers that never throw on a status.
import { expect } from 'vitest';
import { apiFixture, OTP } from '../api/fixture.js';

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
