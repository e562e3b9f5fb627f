// Webhook delivery: an email connection configured to POST codes and links to the operator in
// Userfront's shape, signed with HMAC, retried until it gets through, never lost.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { oidcFixture } from '../oidc/fixture.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'webhook-secret-webhook-secret-webhook';

/** The README's verification snippet, verbatim in spirit: recompute and compare in constant time. */
function verify(secret: string, header: string, rawBody: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=') as [string, string]));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${rawBody}`).digest('hex');
  return !!parts.v1 && parts.v1.length === expected.length && timingSafeEqual(Buffer.from(parts.v1), Buffer.from(expected));
}

describe('webhook delivery', () => {
  let t: TestSesame;
  let receiver: Server;
  const received: Array<{ signature: string; body: string; id: string }> = [];
  let failuresLeft = 2;
  let status = 500;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (failuresLeft > 0) {
          failuresLeft--;
          res.writeHead(status).end();
          return;
        }
        received.push({ signature: String(req.headers['x-sesame-signature']), body, id: String(req.headers['x-sesame-message-id']) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    t = await startTestSesame('sqlite', { ...oidcFixture, connections: [{ id: 'email', type: 'email', delivery: { type: 'webhook', url, secret: SECRET } }] });
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  /** Makes retries due now instead of after their backoff, and runs the worker. */
  async function retryNow() {
    await t.sesame.services.db.prisma.outboxMessage.updateMany({ where: { status: 'pending' }, data: { nextAttemptAt: new Date(Date.now() - 1000) } });
    await t.sesame.worker.runOnce();
  }

  it('posts a signed Userfront-shaped payload, retried through failures, whose link signs in', async () => {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    const codePage = await started.browser.submit(started.page, '/email', { email: 'hooked@example.com' }, t.url);
    expect(codePage.status).toBe(200);
    // Each pass fails once more until the receiver takes it (the in-process worker may take a turn too).
    await waitFor(
      async () => {
        if (received.length === 0) await retryNow();
        return received.length > 0;
      },
      { interval: 100, timeout: 20_000, what: 'the webhook to get through' },
    );
    expect(received).toHaveLength(1);
    const [delivery] = received;
    expect(verify(SECRET, delivery!.signature, delivery!.body)).toBe(true);
    expect(verify('another-secret-another-secret-another', delivery!.signature, delivery!.body)).toBe(false);
    const payload = JSON.parse(delivery!.body);
    expect(payload).toEqual({
      action: 'login',
      model: 'user',
      mode: 'live',
      factor: {
        strategy: 'link',
        channel: 'email',
        email: 'hooked@example.com',
        url: expect.stringMatching(/\/login\/link\?uuid=/),
        token: expect.stringMatching(/^[\w-]{43}$/),
        uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        code: expect.stringMatching(/^\d{6}$/),
        message: expect.stringContaining('Use this code to sign in'),
        expiresAt: expect.any(String),
      },
      record: { mode: 'live', userId: null, tenantId: 'app', userUuid: null },
    });
    const row = await t.sesame.services.db.prisma.outboxMessage.findUniqueOrThrow({ where: { id: delivery!.id } });
    expect(row).toMatchObject({ channel: 'webhook', status: 'sent', attempts: 3 });
    // The operator sends the link; the user opens it in the same browser and is signed in.
    const page = await started.browser.request(payload.factor.url);
    const done = await started.browser.submit(page, '/login/link', {}, t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });

  it('gives up at once on a 4xx answer and records why', async () => {
    failuresLeft = 1;
    status = 410;
    const before = received.length;
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    await started.browser.submit(started.page, '/email', { email: 'gone@example.com' }, t.url);
    await waitFor(
      async () => {
        const row = await t.sesame.services.db.prisma.outboxMessage.findFirst({ where: { recipient: 'gone@example.com' } });
        if (row?.status === 'failed') return true;
        await retryNow();
        return false;
      },
      { interval: 100, timeout: 20_000, what: 'the webhook message to be given up' },
    );
    const row = await t.sesame.services.db.prisma.outboxMessage.findFirstOrThrow({ where: { recipient: 'gone@example.com' } });
    expect(row).toMatchObject({ status: 'failed', attempts: 1, lastError: 'webhook answered 410' });
    expect(received.length).toBe(before);
  });
});
