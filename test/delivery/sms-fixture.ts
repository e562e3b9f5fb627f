// What the SMS tests share: the Twilio credentials and numbers, a fake Twilio, a generic gateway
// receiver that checks the README's HMAC signature, and the providers pointing at them.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayProvider } from '../../src/delivery/sms-gateway.js';
import type { TwilioProvider } from '../../src/delivery/sms-twilio.js';
import type { ClaimedMessage } from '../../src/storage/outbox.js';
import { startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';

export const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
export const AUTH_TOKEN = 'twilio-auth-token-0123456789abcdef';
export const API_KEY_SID = `SK${'b2'.repeat(16)}`;
export const API_KEY_SECRET = 'twilio-api-key-secret-fedcba9876543210';
export const SERVICE_SID = `MG${'c3'.repeat(16)}`;
export const FROM = '+15005550006';
export const TO = '+14155550100';
export const CODE = '123456';
export const TEXT = `${CODE} is your code\n\n@localhost #${CODE}`;
export const GATEWAY_SECRET = 'gateway-secret-gateway-secret-gateway-secret';

export const message = (overrides: Partial<ClaimedMessage> = {}): ClaimedMessage => ({
  id: 'a3f1c2d4-0000-4000-8000-000000000001',
  channel: 'sms',
  connectionId: 'sms',
  recipient: TO,
  subject: '',
  text: TEXT,
  attempts: 0,
  ...overrides,
});

/** What send() threw (or fails the test if it resolved). */
export async function failure(promise: Promise<unknown>): Promise<Error & { permanent?: boolean; invalidRecipient?: boolean; status?: number }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { permanent?: boolean };
  }
  throw new Error('expected send() to throw');
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => Promise<unknown>): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  // Node ignores what a request listener returns; a throw in `handler` still surfaces as an unhandled rejection.
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Twilio stand-in (test/helpers/fake-twilio.ts) with this file's credentials and an API key. */
export const startTwilio = (): Promise<FakeTwilio> => startFakeTwilio({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiKeys: { [API_KEY_SID]: API_KEY_SECRET } });

// ---------------------------------------------------------------------------------------------
// A generic gateway receiver

export interface GatewayRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
}

export interface FakeGateway {
  url: string;
  /** Every request received, failed ones included. */
  requests: GatewayRequest[];
  /** Requests answered 2xx, with a valid signature. */
  delivered: GatewayRequest[];
  /** Status codes to answer the next requests with, in order; then 200. */
  answers: number[];
  close(): Promise<void>;
}

/** The README's webhook verification: recompute the HMAC over "<t>.<raw body>", compare in constant time. */
export function verify(secret: string, header: string | undefined, rawBody: string): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${rawBody}`).digest('hex');
  return !!parts.v1 && parts.v1.length === expected.length && timingSafeEqual(Buffer.from(parts.v1), Buffer.from(expected));
}

/** `secret: null` for a receiver that takes unsigned requests. */
export async function startGateway(secret: string | null = GATEWAY_SECRET): Promise<FakeGateway> {
  const state = { requests: [] as GatewayRequest[], delivered: [] as GatewayRequest[], answers: [] as number[] };
  const http = await listen(async (req, res) => {
    const seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw: await readBody(req) };
    state.requests.push(seen);
    const status = state.answers.shift() ?? 200;
    if (status >= 300) return res.writeHead(status).end(`refused: ${seen.raw}`); // echoes the text: must not reach lastError
    if (secret && !verify(secret, req.headers['x-sesame-signature'] as string | undefined, seen.raw)) return res.writeHead(401).end('bad signature');
    state.delivered.push(seen);
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  return Object.assign(state, { url: `${http.url}/sms`, close: http.close });
}

export const twilioProvider = (baseUrl: string, overrides: Partial<TwilioProvider> = {}): TwilioProvider => ({
  type: 'twilio',
  accountSid: ACCOUNT_SID,
  authToken: AUTH_TOKEN,
  from: FROM,
  baseUrl,
  ...overrides,
});

export const gatewayProvider = (url: string, overrides: Partial<GatewayProvider> = {}): GatewayProvider => ({
  type: 'http',
  url,
  method: 'POST',
  headers: {},
  format: 'json',
  body: { to: '{{to}}', text: '{{text}}' },
  secret: GATEWAY_SECRET,
  ...overrides,
});

// ---------------------------------------------------------------------------------------------
