// Operations surface: health and readiness, security headers and cookies, the dev outbox, and the
// `sesame serve` process starting, answering and stopping cleanly on SIGTERM.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { createTestDatabase } from '../helpers/databases.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { oidcFixture } from '../oidc/fixture.js';
import { waitFor } from '../helpers/wait.js';

describe('operations', () => {
  let t: TestSesame;
  beforeAll(async () => {
    // No SMTP: messages are captured for the dev outbox.
    t = await startTestSesame('sqlite', { ...oidcFixture, smtpUrl: undefined });
  });
  afterAll(() => t?.stop());

  it('answers /healthz and /readyz', async () => {
    const live = await fetch(`${t.url}/healthz`);
    expect([live.status, await live.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${t.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ok', database: 'ok' }]);
  });

  it('sends strict security headers and HttpOnly SameSite cookies', async () => {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    const headers = started.page.headers;
    expect(headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('x-frame-options')).toBe('DENY');
    expect(started.page.html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(started.page.html).not.toMatch(/\sstyle="/);
    const authorize = await fetch(started.page.url.replace(/\/interaction\/.*/, '/healthz'));
    expect(authorize.status).toBe(200);
  });

  it('captures messages in /dev/outbox without SMTP', async () => {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    const page = await started.browser.submit(started.page, '/email', { email: 'outbox@example.com' }, t.url);
    expect(page.status).toBe(200);
    // The worker delivers in the background: wait until it has, not a fixed time.
    type Outboxed = { recipient: string; subject: string; status: string; text: string };
    const sent = async () => {
      const res = await fetch(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } });
      const { messages } = (await res.json()) as { messages: Outboxed[] };
      return messages.find((m) => m.recipient === 'outbox@example.com' && m.status === 'sent');
    };
    const message = await waitFor(sent, { timeout: 30_000, interval: 100, what: 'the code delivered to /dev/outbox' });
    expect(message.status).toBe('sent');
    expect(message.subject).toMatch(/^(\d{6}) is your Sesame sign-in code$/);
    expect(message.text).toContain(/^(\d{6})/.exec(message.subject)![1]);
    const html = await (await fetch(`${t.url}/dev/outbox`)).text();
    expect(html).toContain('outbox@example.com');
  });
});

describe('sesame serve', () => {
  it('starts, becomes ready and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
    const database = await createTestDatabase('sqlite');
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--port', String(port)], {
      env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'info', SESAME_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      // Booting tsx and migrating take a while on a loaded machine: wait for the log line, generously.
      await waitFor(() => output.includes('sesame listening') || child.exitCode !== null, { timeout: 90_000, interval: 100, what: 'sesame listening', detail: () => output });
      expect(output).toContain('sesame listening');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      const discovery = (await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json()) as { issuer: string };
      expect(discovery.issuer).toBe(`http://localhost:${port}`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"sesame stopped"');
    await database.drop();
  });
});
