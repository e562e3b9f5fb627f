// What an attacker or a log reader can learn: known and unknown addresses get the same answer, and
// logs never carry codes, tokens, secrets or query strings.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturingLogger } from '../helpers/logs.js';
import { startSesame, type RunningSesame } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startMailSink, type MailSink } from '../helpers/smtp.js';
import { rpConfig, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import type { TestSesame } from '../helpers/sesame.js';
import { oidcFixture } from '../oidc/fixture.js';

describe('privacy', () => {
  const { logger, lines } = capturingLogger('debug');
  let mail: MailSink;
  let database: TestDatabase;
  let sesame: RunningSesame;
  let t: TestSesame;

  beforeAll(async () => {
    mail = await startMailSink();
    database = await createTestDatabase('sqlite');
    sesame = await startSesame({
      env: { NODE_ENV: 'test' },
      issuerFromPort: true,
      logger,
      overrides: { port: 0, host: '127.0.0.1', databaseUrl: database.url, smtpUrl: mail.url, signUp: 'existing-only', delivery: { pollInterval: 200 }, ...oidcFixture },
    });
    t = { url: sesame.url, issuer: sesame.services.config.issuer, mail, database, sesame, stop: async () => undefined };
    await sesame.services.db.prisma.user.createMany({
      data: [
        { id: 'known-user', email: 'known@example.com', emailVerified: true },
        { id: 'logged-user', email: 'logged@example.com', emailVerified: true },
      ],
    });
  });
  afterAll(async () => {
    await sesame?.stop();
    await mail?.close();
    await database?.drop();
  });

  it('answers known and unknown addresses alike (sign-up closed)', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const pages = [];
    for (const email of ['known@example.com', 'stranger@example.com']) {
      const started = await startLogin(t, config);
      const page = await started.browser.submit(started.page, '/email', { email }, t.url);
      // The resend countdown is the time left when the page was made: on a busy machine 30 or 28.
      const html = page.html
        .replace(email, 'EMAIL')
        .replace(/[\w-]{20,}/g, 'ID')
        .replace(/id="match-number">\d{2}</, 'id="match-number">NN<');
      pages.push({ status: page.status, html: html.replace(/(data-cooldown="|data-countdown="|code in )\d+/g, '$1N') });
    }
    expect(pages[0]).toEqual(pages[1]);
    expect(pages[0]!.status).toBe(200);
    expect((await mail.next('known@example.com')).subject).toMatch(/^\d{6} is your Sesame sign-in code$/);
    expect((await mail.next('stranger@example.com')).subject).toBe('Sign-in attempt at Sesame');
  });

  it('keeps codes, tokens, secrets and query strings out of the logs', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config);
    const { code, result } = await signInWithEmail(t, started, 'logged@example.com');
    const tokens = await exchangeCode(config, started, result.location);
    await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    await sesame.worker.stop();
    const log = lines.join('\n');
    const secrets = [code, tokens.access_token, tokens.refresh_token!, tokens.id_token!, oidcFixture.clients[0]!.client_secret, started.verifier, started.state];
    for (const secret of secrets) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/"path":"[^"]*\?/);
    const events = lines.map((l) => JSON.parse(l) as { msg: string; path?: string; status?: number; requestId?: string });
    expect(events.some((e) => e.msg === 'request' && e.path === '/oauth/token' && e.status === 200 && typeof e.requestId === 'string')).toBe(true);
    expect(events.some((e) => e.msg === 'message delivered')).toBe(true);
  });
});
