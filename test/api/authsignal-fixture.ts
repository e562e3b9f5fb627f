// The Authsignal server-API tests' server: policies for a challenge, a review and a block, a low
// track limit, and tenants made per test (each with its own secret key, so limits and idempotency
// keys never meet across tests), driven by the real @authsignal/node client.
import { randomUUID } from 'node:crypto';
import { Authsignal } from '@authsignal/node';
import { afterAll, beforeAll } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import type { Engine } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

export const TRACKS_PER_MINUTE = 20;
export const BLOCKED_IP = '198.51.100.7';

const rule = (ruleId: string, name: string, type: string, conditions: unknown, description?: string) => ({ ruleId, name, description, priority: 0, type, conditions });
export const FIXTURE = {
  actions: {
    tracksPerMinute: TRACKS_PER_MINUTE,
    policies: {
      pay: { defaultOutcome: 'CHALLENGE', verificationMethods: ['EMAIL_OTP', 'PASSKEY'] },
      wire: { rules: [rule('big', 'Big transfer', 'REVIEW', { '>': [{ var: 'custom.amount' }, 100] }, 'Over 100 is looked at by a person.')] },
      login: { rules: [rule('bad-ip', 'Known bad address', 'BLOCK', { '==': [{ var: 'ip.address' }, BLOCKED_IP] })] },
    },
  },
};

export interface ApiTenant {
  id: string;
  secret: string;
  client: Authsignal;
}

/** The server started once for a describe block, and a way to make tenants on it. */
export function authsignalServer(engine: Engine) {
  const ctx = {} as { t: TestSesame; tenant(): Promise<ApiTenant>; client(secret: string): Authsignal };
  beforeAll(async () => {
    ctx.t = await startTestSesame(engine, FIXTURE);
  });
  afterAll(() => ctx.t?.stop());
  ctx.client = (secret) => new Authsignal({ apiSecretKey: secret, apiUrl: `${ctx.t.url}/v1`, retries: 0 });
  ctx.tenant = async () => {
    const id = `shop-${randomUUID()}`;
    const secret = await issueTenantSecret(ctx.t.sesame.services.db, id);
    return { id, secret, client: ctx.client(secret) };
  };
  return ctx;
}

/** The AuthsignalError a call failed with, as `{status, error, errorDescription}` (fails the test if it did not fail). */
export async function failureOf(call: Promise<unknown>): Promise<{ status: number; error: string; errorDescription?: string }> {
  try {
    await call;
  } catch (err) {
    const e = err as { name: string; statusCode: number; errorCode: string; errorDescription?: string };
    if (e.name !== 'AuthsignalError') throw err;
    return { status: e.statusCode, error: e.errorCode, ...(e.errorDescription !== undefined && { errorDescription: e.errorDescription }) };
  }
  throw new Error('expected the call to fail');
}

/** A raw request to the server API with a tenant's secret (for bodies and paths the SDK cannot send). */
export async function raw(t: TestSesame, secret: string | null, method: string, path: string, body?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== null) headers.authorization = `Basic ${Buffer.from(`${secret}:`).toString('base64')}`;
  const res = await fetch(`${t.url}/v1${path}`, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
}

export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
