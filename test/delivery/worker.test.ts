// The delivery worker against a real SMTP server that answers what each test tells it to: retries
// of 4xx with backoff, no retry of 5xx, giving up loudly, a server that is down, and two workers
// sharing one outbox. Time is moved by setting nextAttemptAt in the past, never by sleeping.
import { connect, createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { smtpChannel } from '../../src/delivery/channels.js';
import { DeliveryWorker, type WorkerOptions } from '../../src/delivery/worker.js';
import { openDb, type Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { enqueueMessage } from '../../src/storage/outbox.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestSesame } from '../helpers/sesame.js';

interface Smtp {
  url: string;
  /** RCPT TO commands seen (each one is a delivery attempt). */
  attempts: number;
  /** Recipients of every message accepted. */
  delivered: string[];
  close(): Promise<void>;
}

/** `answer(n)` gives the reply code to the n-th RCPT TO, or undefined to accept. */
async function startSmtp(answer: (attempt: number) => number | undefined = () => undefined): Promise<Smtp> {
  const state = { attempts: 0, delivered: [] as string[] };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    // smtp-server looks up each client's address in DNS by default: a query that leaves the machine.
    disableReverseLookup: true,
    logger: false,
    onRcptTo(_address, _session, callback) {
      const code = answer(++state.attempts);
      if (code === undefined) return callback();
      callback(Object.assign(new Error(code >= 500 ? 'no such mailbox' : 'mailbox busy, try later'), { responseCode: code }));
    },
    onData(stream, session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        state.delivered.push(...session.envelope.rcptTo.map((r) => r.address));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return Object.assign(state, {
    url: `smtp://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('delivery worker over SMTP', () => {
  let database: TestDatabase;
  let db: Db;
  let logs: Array<Record<string, unknown> & { msg: string; level: number }>;
  const cleanup: Array<() => unknown> = [];
  const options: WorkerOptions = { maxAttempts: 3, pollInterval: 50 };

  /** A worker over `smtp` (its own channel, optionally its own database handle). */
  function worker(url: string, overrides: Partial<WorkerOptions> = {}, handle = db): DeliveryWorker {
    const channel = smtpChannel(url, 'Sesame <login@sesame.test>');
    cleanup.push(() => channel.close());
    const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    return new DeliveryWorker(handle, channel, { ...options, ...overrides }, log);
  }
  const enqueue = (recipient = 'ada@example.com') =>
    enqueueMessage(db, { channel: 'email', recipient, subject: '123456 is your code', text: 'Your code: 123456', html: '<b>123456</b>' });
  const row = (id: string) => db.prisma.outboxMessage.findUniqueOrThrow({ where: { id } });
  /** Moves every retry into the past, as if the backoff had elapsed. */
  const elapse = () => db.prisma.outboxMessage.updateMany({ where: { status: 'pending' }, data: { nextAttemptAt: new Date(Date.now() - 1000) } });

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    await migrate(database.url);
    db = openDb(database.url);
  });
  beforeEach(async () => {
    logs = [];
    await db.prisma.outboxMessage.deleteMany();
  });
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('retries a 4xx with backoff and delivers exactly once on the third attempt, purging the body', async () => {
    const smtp = await startSmtp((n) => (n <= 2 ? 451 : undefined));
    cleanup.push(smtp.close);
    const w = worker(smtp.url);
    const id = await enqueue();

    expect(await w.runOnce()).toBe(1);
    const first = await row(id);
    expect(first).toMatchObject({ status: 'pending', attempts: 1, lockedUntil: null, lastError: expect.stringContaining('451') });
    expect(first.nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
    expect(await w.runOnce()).toBe(0); // backing off: not due yet

    await elapse();
    expect(await w.runOnce()).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'pending', attempts: 2 });
    await elapse();
    expect(await w.runOnce()).toBe(1);

    expect(smtp.attempts).toBe(3);
    expect(smtp.delivered).toEqual(['ada@example.com']);
    const sent = await row(id);
    expect(sent).toMatchObject({ status: 'sent', attempts: 3, text: '', html: null, lockedUntil: null });
    expect(sent.sentAt).toBeInstanceOf(Date);
    await elapse();
    expect(await w.runOnce()).toBe(0);
    expect(smtp.delivered).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'message delivery failed, will retry')).toHaveLength(2);
    expect(logs.filter((l) => l.msg === 'message delivered')).toEqual([expect.objectContaining({ messageId: id, attempt: 3 })]);
  });

  it('does not retry a 5xx: failed after one attempt with the reason recorded', async () => {
    const smtp = await startSmtp(() => 550);
    cleanup.push(smtp.close);
    const w = worker(smtp.url);
    const id = await enqueue();

    expect(await w.runOnce()).toBe(1);
    expect(await row(id)).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringContaining('550') });
    await elapse();
    expect(await w.runOnce()).toBe(0);
    expect(smtp.attempts).toBe(1);
    expect(smtp.delivered).toEqual([]);
    expect(logs.find((l) => l.msg === 'message given up')).toMatchObject({ level: 50, messageId: id, attempt: 1 });
  });

  it('gives up after maxAttempts temporary failures and logs an error', async () => {
    const smtp = await startSmtp(() => 421);
    cleanup.push(smtp.close);
    const w = worker(smtp.url);
    const id = await enqueue();

    for (let i = 0; i < options.maxAttempts; i++) {
      expect(await w.runOnce()).toBe(1);
      await elapse();
    }
    expect(await w.runOnce()).toBe(0);
    expect(smtp.attempts).toBe(options.maxAttempts);
    expect(await row(id)).toMatchObject({ status: 'failed', attempts: options.maxAttempts, lastError: expect.stringContaining('421') });
    const givenUp = logs.filter((l) => l.msg === 'message given up');
    expect(givenUp).toEqual([expect.objectContaining({ level: 50, messageId: id, attempt: options.maxAttempts })]);
  });

  it('counts an SMTP server that is down as a temporary failure', async () => {
    const w = worker(`smtp://127.0.0.1:${await closedPort()}`);
    const id = await enqueue();

    expect(await w.runOnce()).toBe(1);
    const failed = await row(id);
    expect(failed).toMatchObject({ status: 'pending', attempts: 1, lastError: expect.stringMatching(/ECONNREFUSED|connect/i) });
    expect(failed.nextAttemptAt.getTime()).toBeGreaterThan(Date.now());
    expect(logs.find((l) => l.msg === 'message delivery failed, will retry')).toMatchObject({ level: 40, messageId: id, attempt: 1 });
  });

  it('two workers running at once over one outbox deliver each of 10 messages exactly once', async () => {
    const smtp = await startSmtp();
    cleanup.push(smtp.close);
    const second = openDb(database.url);
    cleanup.push(() => second.close());
    const recipients = Array.from({ length: 10 }, (_, i) => `user${i}@example.com`);
    for (const r of recipients) await enqueue(r);

    const claimed = await Promise.all([worker(smtp.url).runOnce(), worker(smtp.url, {}, second).runOnce()]);
    expect(claimed[0] + claimed[1]).toBe(10);
    expect([...smtp.delivered].sort()).toEqual([...recipients].sort());
    const rows = await db.prisma.outboxMessage.findMany();
    expect(rows).toHaveLength(10);
    for (const r of rows) expect(r).toMatchObject({ status: 'sent', attempts: 1, text: '', html: null });
    expect(await worker(smtp.url).runOnce()).toBe(0);
    expect(smtp.delivered).toHaveLength(10);
  });
});

describe('server shutdown', () => {
  it('stop() resolves, the port then refuses connections, and a message just enqueued is still delivered', async () => {
    const t = await startTestSesame('sqlite');
    try {
      // An idle keep-alive connection must not hold stop() up.
      expect((await fetch(`${t.url}/.well-known/openid-configuration`)).status).toBe(200);
      const recipient = 'late@example.com';
      const id = await enqueueMessage(t.sesame.services.db, { channel: 'email', recipient, subject: 'late', text: 'late' });
      t.sesame.services.wakeWorker();
      await t.sesame.stop();

      const port = Number(new URL(t.url).port);
      const refused = await new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => resolve('connected'));
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      expect(refused).toBe('ECONNREFUSED');

      const after = openDb(t.database.url);
      try {
        const message = await after.prisma.outboxMessage.findUnique({ where: { id } });
        expect(message).not.toBeNull();
        expect(message!.status).toBe('sent');
        expect(t.mail.messages.filter((m) => m.to.includes(recipient))).toHaveLength(1);
      } finally {
        await after.close();
      }
    } finally {
      await t.mail.close();
      await t.database.drop();
    }
  });
});
