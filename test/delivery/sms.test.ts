// SMS delivery against local servers: one that speaks Twilio's Messages API (test/helpers/fake-twilio.ts:
// Basic auth, form body, 201 with a message SID, Twilio-shaped errors) and a generic gateway receiver that checks the
// HMAC signature. The channels are driven directly, then through the real DeliveryWorker over a
// migrated SQLite outbox, routed by the server's deliveryChannel. Time is moved by setting
// nextAttemptAt in the past, never by sleeping.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { gatewayChannel, type GatewayProvider } from '../../src/delivery/sms-gateway.js';
import { twilioChannel, type TwilioProvider } from '../../src/delivery/sms-twilio.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import { deliveryChannel } from '../../src/server.js';
import { openDb, type Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { enqueueMessage, type ClaimedMessage } from '../../src/storage/outbox.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';
import { freePort } from '../helpers/net.js';

const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
const AUTH_TOKEN = 'twilio-auth-token-0123456789abcdef';
const API_KEY_SID = `SK${'b2'.repeat(16)}`;
const API_KEY_SECRET = 'twilio-api-key-secret-fedcba9876543210';
const SERVICE_SID = `MG${'c3'.repeat(16)}`;
const FROM = '+15005550006';
const TO = '+14155550100';
const CODE = '123456';
const TEXT = `${CODE} is your code\n\n@localhost #${CODE}`;
const GATEWAY_SECRET = 'gateway-secret-gateway-secret-gateway-secret';

const message = (overrides: Partial<ClaimedMessage> = {}): ClaimedMessage => ({
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
async function failure(promise: Promise<unknown>): Promise<Error & { permanent?: boolean; invalidRecipient?: boolean; status?: number }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { permanent?: boolean };
  }
  throw new Error('expected send() to throw');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => Promise<unknown>): Promise<{ server: Server; url: string; close(): Promise<void> }> {
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
const startTwilio = (): Promise<FakeTwilio> => startFakeTwilio({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiKeys: { [API_KEY_SID]: API_KEY_SECRET } });

// ---------------------------------------------------------------------------------------------
// A generic gateway receiver

interface GatewayRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
}

interface FakeGateway {
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
function verify(secret: string, header: string | undefined, rawBody: string): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${rawBody}`).digest('hex');
  return !!parts.v1 && parts.v1.length === expected.length && timingSafeEqual(Buffer.from(parts.v1), Buffer.from(expected));
}

/** `secret: null` for a receiver that takes unsigned requests. */
async function startGateway(secret: string | null = GATEWAY_SECRET): Promise<FakeGateway> {
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

const twilioProvider = (baseUrl: string, overrides: Partial<TwilioProvider> = {}): TwilioProvider => ({
  type: 'twilio',
  accountSid: ACCOUNT_SID,
  authToken: AUTH_TOKEN,
  from: FROM,
  baseUrl,
  ...overrides,
});

const gatewayProvider = (url: string, overrides: Partial<GatewayProvider> = {}): GatewayProvider => ({
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

describe('Twilio channel', () => {
  let twilio: FakeTwilio;
  beforeEach(async () => {
    twilio = await startTwilio();
  });
  afterEach(() => twilio.close());

  it('sends with the auth token and a From number', async () => {
    await twilioChannel(twilioProvider(twilio.url)).send(message());
    expect(twilio.requests).toEqual([
      { username: ACCOUNT_SID, to: TO, from: FROM, messagingServiceSid: null, body: TEXT, contentType: 'application/x-www-form-urlencoded' },
    ]);
    expect(twilio.accepted).toHaveLength(1);
  });

  it('sends with an API key and a messaging service (base URL with a trailing slash)', async () => {
    const provider = twilioProvider(`${twilio.url}/`, {
      authToken: undefined,
      apiKeySid: API_KEY_SID,
      apiKeySecret: API_KEY_SECRET,
      from: undefined,
      messagingServiceSid: SERVICE_SID,
    });
    await twilioChannel(provider).send(message());
    expect(twilio.requests).toEqual([expect.objectContaining({ username: API_KEY_SID, to: TO, from: null, messagingServiceSid: SERVICE_SID, body: TEXT })]);
    expect(twilio.accepted).toHaveLength(1);
  });

  it('gives up at once on a number Twilio calls invalid, with a short message', async () => {
    const err = await failure(twilioChannel(twilioProvider(twilio.url)).send(message({ recipient: '+1555' })));
    expect(err.message).toBe("twilio 400 21211: The 'To' number +1555 is not a valid phone number.");
    expect(err).toMatchObject({ permanent: true, invalidRecipient: true, status: 400 });
    expect(twilio.accepted).toEqual([]);
  });

  it.each([
    [21614, "'To' number is not a valid mobile number"],
    [21408, 'Permission to send an SMS has not been enabled for the region indicated by the \'To\' number'],
    [21610, 'Attempt to send to unsubscribed recipient'],
    [21612, "The 'To' phone number is not currently reachable via SMS"],
  ])('gives up at once on Twilio error %i', async (code, text) => {
    twilio.reject.set(TO, { code, message: text });
    const err = await failure(twilioChannel(twilioProvider(twilio.url)).send(message()));
    expect(err).toMatchObject({ permanent: true, invalidRecipient: true, message: `twilio 400 ${code}: ${text}` });
  });

  it('gives up at once on bad credentials and an unknown account, without quoting a credential', async () => {
    const badToken = await failure(twilioChannel(twilioProvider(twilio.url, { authToken: 'wrong-token-wrong-token' })).send(message()));
    expect(badToken).toMatchObject({ permanent: true, status: 401, message: 'twilio 401 20003: Authenticate' });
    const badKey = await failure(
      twilioChannel(twilioProvider(twilio.url, { authToken: undefined, apiKeySid: API_KEY_SID, apiKeySecret: 'not-the-secret' })).send(message()),
    );
    expect(badKey).toMatchObject({ permanent: true, status: 401 });
    const elsewhere = await failure(twilioChannel(twilioProvider(`${twilio.url}/nowhere`)).send(message()));
    expect(elsewhere).toMatchObject({ permanent: true, status: 404 });
    for (const err of [badToken, badKey, elsewhere]) {
      expect(err.message).not.toContain(AUTH_TOKEN);
      expect(err.message).not.toContain('not-the-secret');
      expect(err.message.length).toBeLessThanOrEqual(200);
    }
  });

  it('never puts the text, the code or a credential in the error, even when Twilio echoes them', async () => {
    twilio.reject.set(TO, { code: 21612, message: 'Cannot route "{body}" (auth {password})' });
    const err = await failure(twilioChannel(twilioProvider(twilio.url)).send(message()));
    expect(err.permanent).toBe(true);
    expect(err.message).toMatch(/^twilio 400 21612: Cannot route "\[redacted\]" \(auth \[redacted\]\)$/);
    expect(err.message).not.toContain(CODE);
    expect(err.message).not.toContain(AUTH_TOKEN);
    expect(err.message).not.toContain('\n');
  });

  it('retries 429, 5xx, a timeout and a server that is down', async () => {
    const channel = twilioChannel(twilioProvider(twilio.url), { timeoutMs: 300 });
    twilio.throttleNext = 1;
    expect(await failure(channel.send(message()))).toMatchObject({ permanent: false, message: 'twilio 429 20429: Too Many Requests' });
    twilio.failNext = 1;
    expect(await failure(channel.send(message()))).toMatchObject({ permanent: false, message: 'twilio 500 20500: Internal Server Error' });
    twilio.hang = true;
    expect(await failure(channel.send(message()))).toMatchObject({ permanent: false, message: 'twilio request timed out' });
    const down = twilioChannel(twilioProvider(`http://127.0.0.1:${await freePort()}`));
    expect(await failure(down.send(message()))).toMatchObject({ permanent: false, message: 'twilio request failed: ECONNREFUSED' });
    expect(twilio.accepted).toEqual([]);
  });
});

describe('HTTP gateway channel', () => {
  let gateway: FakeGateway;
  beforeEach(async () => {
    gateway = await startGateway();
  });
  afterEach(() => gateway.close());

  it('POSTs the default JSON body, signed, with the message id and extra headers', async () => {
    await gatewayChannel(gatewayProvider(gateway.url, { headers: { 'X-Api-Key': 'gw-key' } })).send(message());
    expect(gateway.delivered).toHaveLength(1);
    const [seen] = gateway.delivered;
    expect(seen).toMatchObject({ method: 'POST', path: '/sms' });
    expect(seen!.headers['content-type']).toBe('application/json');
    expect(seen!.headers['x-api-key']).toBe('gw-key');
    expect(seen!.headers['x-sesame-message-id']).toBe(message().id);
    expect(seen!.headers['x-sesame-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(JSON.parse(seen!.raw)).toEqual({ to: TO, text: TEXT });
    expect(verify(GATEWAY_SECRET, seen!.headers['x-sesame-signature'] as string, seen!.raw)).toBe(true);
    expect(verify('another-secret-another-secret-another-secret', seen!.headers['x-sesame-signature'] as string, seen!.raw)).toBe(false);
    expect(verify(GATEWAY_SECRET, seen!.headers['x-sesame-signature'] as string, seen!.raw.replace(CODE, '654321'))).toBe(false);
  });

  it('PUTs a form body with custom fields, placeholders replaced once, as written', async () => {
    const provider = gatewayProvider(gateway.url, {
      method: 'PUT',
      format: 'form',
      body: { phone: '{{to}}', message: '{{text}}', reference: 'sesame-{{messageId}}', sender: 'Sesame' },
    });
    const tricky = 'Code 123456 {{to}} $& $1 {{messageId}}';
    await gatewayChannel(provider).send(message({ text: tricky }));
    const [seen] = gateway.delivered;
    expect(seen).toMatchObject({ method: 'PUT' });
    expect(seen!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(seen!.raw))).toEqual({
      phone: TO,
      message: tricky,
      reference: `sesame-${message().id}`,
      sender: 'Sesame',
    });
    expect(verify(GATEWAY_SECRET, seen!.headers['x-sesame-signature'] as string, seen!.raw)).toBe(true);
  });

  it('sends unsigned without a secret', async () => {
    await gateway.close();
    gateway = await startGateway(null);
    await gatewayChannel(gatewayProvider(gateway.url, { secret: undefined })).send(message());
    expect(gateway.delivered).toHaveLength(1);
    expect(gateway.delivered[0]!.headers['x-sesame-signature']).toBeUndefined();
  });

  it('gives up on 4xx, retries 408, 429 and 5xx, and never quotes the answer', async () => {
    const channel = gatewayChannel(gatewayProvider(gateway.url));
    gateway.answers = [400, 404, 408, 429, 500, 503];
    for (const [status, permanent] of [
      [400, true],
      [404, true],
      [408, false],
      [429, false],
      [500, false],
      [503, false],
    ] as const) {
      const err = await failure(channel.send(message()));
      expect(err).toMatchObject({ permanent, status, message: `gateway answered ${status}` });
    }
    expect(gateway.delivered).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('SMS through the delivery worker (SQLite outbox)', () => {
  let database: TestDatabase;
  let db: Db;
  let twilio: FakeTwilio;
  let gateway: FakeGateway;
  let worker: DeliveryWorker;
  let logs: string[];

  const enqueue = (connectionId = 'sms', recipient = TO) =>
    enqueueMessage(db, { channel: 'sms', connectionId, recipient, subject: '', text: TEXT });
  const row = (id: string) => db.prisma.outboxMessage.findUniqueOrThrow({ where: { id } });
  /** Moves every retry into the past, as if the backoff had elapsed. */
  const elapse = () => db.prisma.outboxMessage.updateMany({ where: { status: 'pending' }, data: { nextAttemptAt: new Date(Date.now() - 1000) } });

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    await migrate(database.url);
    db = openDb(database.url);
    twilio = await startTwilio();
    gateway = await startGateway();
    // The server's own routing, over a configuration parsed by the schema (defaults applied).
    const config = loadConfig(
      {},
      {
        connections: [
          { id: 'email', type: 'email' },
          { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: { type: 'twilio', accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, baseUrl: twilio.url } },
          {
            id: 'sms-key',
            type: 'sms',
            allowedCountries: ['US'],
            provider: { type: 'twilio', accountSid: ACCOUNT_SID, apiKeySid: API_KEY_SID, apiKeySecret: API_KEY_SECRET, messagingServiceSid: SERVICE_SID, baseUrl: twilio.url },
          },
          { id: 'sms-gateway', type: 'sms', allowedCountries: ['US'], provider: { type: 'http', url: gateway.url, secret: GATEWAY_SECRET } },
          { id: 'sms-form', type: 'sms', allowedCountries: ['US'], provider: { type: 'http', url: gateway.url, format: 'form', secret: GATEWAY_SECRET } },
          { id: 'sms-capture', type: 'sms', allowedCountries: ['US'], provider: { type: 'capture' } },
        ],
      },
    );
    const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
    worker = new DeliveryWorker(db, deliveryChannel(config, db), { maxAttempts: 5, pollInterval: 50 }, log);
  });
  beforeEach(async () => {
    logs = [];
    twilio.requests.length = 0;
    twilio.accepted.length = 0;
    twilio.reject.clear();
    twilio.failNext = 0;
    gateway.requests.length = 0;
    gateway.delivered.length = 0;
    gateway.answers = [];
    await db.prisma.outboxMessage.deleteMany();
  });
  afterEach(() => {
    // Whatever happened, the code never reached a log line.
    expect(logs.join('\n')).not.toContain(CODE);
  });
  afterAll(async () => {
    await twilio?.close();
    await gateway?.close();
    await db?.close();
    await database?.drop();
  });

  it('sends through Twilio with the auth token and From, once, and purges the text', async () => {
    const id = await enqueue();
    expect(await worker.runOnce()).toBe(1);
    expect(twilio.requests).toEqual([expect.objectContaining({ username: ACCOUNT_SID, to: TO, from: FROM, messagingServiceSid: null, body: TEXT })]);
    expect(await row(id)).toMatchObject({ channel: 'sms', status: 'sent', attempts: 1, text: '', lastError: null });
    await elapse();
    expect(await worker.runOnce()).toBe(0);
    expect(twilio.accepted).toHaveLength(1);
  });

  it('sends through Twilio with an API key and a messaging service', async () => {
    const id = await enqueue('sms-key');
    expect(await worker.runOnce()).toBe(1);
    expect(twilio.requests).toEqual([expect.objectContaining({ username: API_KEY_SID, to: TO, from: null, messagingServiceSid: SERVICE_SID, body: TEXT })]);
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('an invalid number (21211) fails after one attempt, is not retried, and records why without the code', async () => {
    twilio.reject.set(TO, { code: 21211, message: `The 'To' number ${TO} is not a valid phone number.` });
    const id = await enqueue();
    expect(await worker.runOnce()).toBe(1);
    const failed = await row(id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, lastError: `twilio 400 21211: The 'To' number ${TO} is not a valid phone number.` });
    expect(failed.lastError).not.toContain(CODE);
    await elapse();
    expect(await worker.runOnce()).toBe(0);
    expect(twilio.requests).toHaveLength(1);
    expect(twilio.accepted).toEqual([]);
    expect(logs.map((l) => JSON.parse(l) as { msg: string; level: number })).toContainEqual(
      expect.objectContaining({ level: 50, msg: 'message given up', messageId: id, attempt: 1 }),
    );
  });

  it('a Twilio 500 is retried and then delivered once', async () => {
    twilio.failNext = 1;
    const id = await enqueue();
    expect(await worker.runOnce()).toBe(1);
    const pending = await row(id);
    expect(pending).toMatchObject({ status: 'pending', attempts: 1, lastError: 'twilio 500 20500: Internal Server Error' });
    expect(pending.nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
    expect(await worker.runOnce()).toBe(0); // backing off
    await elapse();
    expect(await worker.runOnce()).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 2 });
    expect(twilio.requests).toHaveLength(2);
    expect(twilio.accepted).toHaveLength(1);
  });

  it('a gateway failing twice (500) then answering is delivered exactly once, after 3 attempts, signed', async () => {
    gateway.answers = [500, 500];
    const id = await enqueue('sms-gateway');
    expect(await worker.runOnce()).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'pending', attempts: 1, lastError: 'gateway answered 500' });
    await elapse();
    expect(await worker.runOnce()).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'pending', attempts: 2 });
    await elapse();
    expect(await worker.runOnce()).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 3, text: '' });
    await elapse();
    expect(await worker.runOnce()).toBe(0);

    expect(gateway.requests).toHaveLength(3);
    expect(gateway.delivered).toHaveLength(1);
    const [seen] = gateway.delivered;
    expect(JSON.parse(seen!.raw)).toEqual({ to: TO, text: TEXT });
    expect(seen!.headers['x-sesame-message-id']).toBe(id);
    expect(verify(GATEWAY_SECRET, seen!.headers['x-sesame-signature'] as string, seen!.raw)).toBe(true);
    // Every attempt carried the same message id, so a receiver can drop duplicates.
    expect(new Set(gateway.requests.map((r) => r.headers['x-sesame-message-id']))).toEqual(new Set([id]));
  });

  it('a gateway with a form body, and a 4xx given up at once', async () => {
    const sent = await enqueue('sms-form');
    expect(await worker.runOnce()).toBe(1);
    expect(await row(sent)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(Object.fromEntries(new URLSearchParams(gateway.delivered[0]!.raw))).toEqual({ to: TO, text: TEXT });

    gateway.answers = [422];
    const refused = await enqueue('sms-form');
    expect(await worker.runOnce()).toBe(1);
    expect(await row(refused)).toMatchObject({ status: 'failed', attempts: 1, lastError: 'gateway answered 422' });
  });

  it('the capture provider counts as sent; an unknown connection is given up at once', async () => {
    const captured = await enqueue('sms-capture');
    const unknown = await enqueue('nope');
    const emailNamed = await enqueue('email');
    expect(await worker.runOnce()).toBe(3);
    expect(await row(captured)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(await row(unknown)).toMatchObject({ status: 'failed', attempts: 1, lastError: 'no SMS connection nope' });
    expect(await row(emailNamed)).toMatchObject({ status: 'failed', attempts: 1, lastError: 'no SMS connection email' });
    expect(twilio.requests).toEqual([]);
    expect(gateway.requests).toEqual([]);
  });
});
