// SMS through the real DeliveryWorker over a migrated SQLite outbox, routed by the server's
// deliveryChannel, to a fake Twilio and a gateway receiver (test/delivery/sms-fixture.ts). Time is
// moved by setting nextAttemptAt in the past, never by sleeping.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import { deliveryChannel } from '../../src/server.js';
import { openDb, type Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { enqueueMessage } from '../../src/storage/outbox.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import type { FakeTwilio } from '../helpers/fake-twilio.js';
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  API_KEY_SID,
  API_KEY_SECRET,
  SERVICE_SID,
  FROM,
  TO,
  CODE,
  TEXT,
  GATEWAY_SECRET,
  startTwilio,
  type FakeGateway,
  verify,
  startGateway,
} from './sms-fixture.js';

describe('SMS through the delivery worker (SQLite outbox)', () => {
  let database: TestDatabase;
  let db: Db;
  let twilio: FakeTwilio;
  let gateway: FakeGateway;
  let worker: DeliveryWorker;
  let logs: string[];

  const enqueue = (connectionId = 'sms', recipient = TO) => enqueueMessage(db, { channel: 'sms', connectionId, recipient, subject: '', text: TEXT });
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
