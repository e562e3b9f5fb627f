// auth0-js (the real browser bundle) in Chromium against Sesame over https://localhost:<port>/: a
// single-page app on another origin calls passwordlessStart / passwordlessVerify through CORS, the
// browser lands on /passwordless/verify_redirect, the user confirms once, and the app's
// redirect_uri gets `code` and `state`, which openid-client redeems as the public client `spa`.
// auth0-js sends no PKCE by itself; Sesame requires PKCE from public clients, so the app passes a
// code challenge to passwordlessVerify (and without one the sign-in ends in invalid_request).
import * as oidc from 'openid-client';
import type { Page, Request } from 'playwright-core';
import { useBrowser } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { startWebApp, type WebApp } from '../helpers/web-app.js';
import { apiFixture } from '../api/fixture.js';

const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

interface App {
  page: Page;
  /** Console errors and uncaught page errors, favicon probes aside. */
  problems: string[];
  /** Every console message of any type (for CORS complaints, which may come at any level). */
  console: string[];
  /** Requests the page made to Sesame's passwordless API. */
  api: Request[];
}

describe('auth0-js passwordless in Chromium', () => {
  let t: TestSesame;
  let app: WebApp;
  const chromium = useBrowser();
  let rp: oidc.Configuration;

  beforeAll(async () => {
    const port = await freePort();
    app = await startWebApp({ domain: `localhost:${port}`, clientId: 'spa' });
    const clients = apiFixture.clients.map((c) => (c.client_id === 'spa' ? { ...c, redirect_uris: [app.callback], web_origins: [app.origin] } : c));
    // No passkey offer: on a localhost issuer it would stop the hosted sign-in (test/hosted/passkey-offer.test.ts).
    t = await startTestSesame('sqlite', { ...apiFixture, clients, port, passkeys: { offerEnrolment: false } }, { tls: true, issuer: `https://localhost:${port}/` });
    // Node trusts the test CA (NODE_EXTRA_CA_CERTS), so no insecure-request escape hatch here.
    rp = await oidc.discovery(new URL(t.issuer), 'spa', undefined, oidc.None());
  });
  afterAll(async () => {
    await app?.close();
    await t?.stop();
  });

  /** The app's page in a fresh context (Chromium does not know the test CA: ignoreHTTPSErrors). */
  async function open(): Promise<App> {
    const context = await chromium.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const opened: App = { page, problems: [], console: [], api: [] };
    page.on('console', (message) => {
      const { url } = message.location();
      opened.console.push(`${message.type()}: ${message.text()} (${url})`);
      if (message.type() === 'error' && !url.endsWith('/favicon.ico')) opened.problems.push(`${message.text()} (${url})`);
    });
    page.on('pageerror', (error) => opened.problems.push(error.message));
    page.on('request', (request) => {
      if (request.url().startsWith(`${t.url}/passwordless/`) && request.resourceType() !== 'document') opened.api.push(request);
    });
    expect((await page.goto(app.origin))?.status()).toBe(200);
    return opened;
  }

  /** What the app wrote after the last SDK call. */
  async function result(page: Page): Promise<{ kind: string; value: Record<string, unknown> }> {
    const out = page.locator('#result:not([data-kind=pending])');
    await out.waitFor();
    return { kind: (await out.getAttribute('data-kind'))!, value: JSON.parse((await out.textContent()) || '{}') };
  }

  /** passwordlessStart from the page; returns the code from the mail. */
  async function start({ page }: App, email: string): Promise<string> {
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Send code' }).click();
    expect(await result(page)).toEqual({ kind: 'ok', value: { Id: expect.stringMatching(/^[0-9a-f]{24}$/), email, emailVerified: false } });
    return codeFrom(await t.mail.next(email));
  }

  /** passwordlessVerify, then the confirm page and "Continue"; returns the verify_redirect and callback URLs. */
  async function verifyAndContinue({ page }: App, code: string, email: string, pkce: boolean) {
    await page.getByLabel('Code').fill(code);
    await page.getByLabel('PKCE').setChecked(pkce);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${t.url}/passwordless/verify_redirect?`));
    const link = new URL(page.url());
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Continue signing in');
    expect(await page.getByText(`Sign in to Browser App as ${email}?`).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${app.callback}?`));
    const shown = JSON.parse((await page.locator('#query').textContent())!) as Record<string, string>;
    const callback = new URL(page.url());
    expect(shown).toEqual(Object.fromEntries(callback.searchParams));
    expect(app.received.at(-1)?.href).toBe(callback.href);
    return { link, callback };
  }

  /** The passwordless API calls went cross-origin with auth0-js's headers, no cookies, and CORS allowed them. */
  async function checkCors(opened: App, paths: string[]) {
    expect(opened.api.map((r) => new URL(r.url()).pathname)).toEqual(paths);
    for (const request of opened.api) {
      const headers = await request.allHeaders();
      expect(headers.origin).toBe(app.origin);
      expect(headers['auth0-client']).toEqual(expect.any(String));
      expect(headers.cookie).toBeUndefined();
      const response = (await request.response())!;
      expect(response.headers()['access-control-allow-origin']).toBe(app.origin);
    }
    expect(opened.console.filter((line) => /CORS|Access-Control|blocked/i.test(line))).toEqual([]);
  }

  it('start → code by mail → verify → confirm page → code and state at the redirect_uri → tokens (PKCE from the app)', async () => {
    const opened = await open();
    const email = 'ada@example.com';
    const code = await start(opened, email);
    const { link, callback } = await verifyAndContinue(opened, code, email, true);

    // auth0-js built the link from its options, with the challenge the app passed through.
    expect(Object.fromEntries(link.searchParams)).toMatchObject({
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: app.callback,
      scope: 'openid email',
      connection: 'email',
      email,
      verification_code: code,
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      code_challenge_method: 'S256',
      state: expect.any(String),
    });
    const state = link.searchParams.get('state')!;
    expect(callback.origin + callback.pathname).toBe(app.callback);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(t.issuer);

    // The app's server side redeems the code as the public client with the app's verifier.
    const verifier = await opened.page.evaluate(() => sessionStorage.getItem('pkce_verifier'));
    expect(verifier).toMatch(/^[\w-]{43}$/);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier!, expectedState: state });
    expect(tokens.claims()).toMatchObject({ iss: t.issuer, aud: 'spa', email, email_verified: true });
    expect(tokens.access_token).toEqual(expect.any(String));

    // The code works once.
    await expect(oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier!, expectedState: state })).rejects.toMatchObject({ error: 'invalid_grant' });
    await checkCors(opened, ['/passwordless/start', '/passwordless/verify']);
    expect(opened.problems).toEqual([]);
  });

  it('without a code challenge (auth0-js adds none) the link page refuses before the code is used', async () => {
    const opened = await open();
    const { page } = opened;
    const email = 'grace@example.com';
    await page.getByLabel('Code').fill(await start(opened, email));
    await page.getByLabel('PKCE').setChecked(false);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${t.url}/passwordless/verify_redirect?`));
    expect(new URL(page.url()).searchParams.has('code_challenge')).toBe(false);
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('This application must use PKCE (a code_challenge) for sign-in links. Ask its developers to update it.');
    // The email code is still live: the app can retry with PKCE.
    const live = await t.sesame.services.db.prisma.oneTimeCode.findFirst({ where: { identifier: email, consumedAt: null, replacedAt: null } });
    expect(live).not.toBeNull();
    await checkCors(opened, ['/passwordless/start', '/passwordless/verify']);
    expect(opened.problems.filter((p) => !/status of 400/.test(p))).toEqual([]);
  });

  it("gives a wrong code to the page callback as Auth0's error, with CORS on the error too", async () => {
    const opened = await open();
    const { page } = opened;
    const email = 'linus@example.com';
    const code = await start(opened, email);
    await page.getByLabel('Code').fill(wrongCode(code));
    await page.getByRole('button', { name: 'Verify' }).click();
    expect(await result(page)).toEqual({
      kind: 'error',
      value: { code: 'invalid_grant', description: 'Wrong email or verification code.', statusCode: 403 },
    });
    expect(page.url()).toBe(`${app.origin}/`);
    await checkCors(opened, ['/passwordless/start', '/passwordless/verify']);
    // Chromium logs the 403 itself as a failed resource load; nothing else.
    expect(opened.problems).toEqual([expect.stringMatching(/status of 403 .*\/passwordless\/verify\)$/)]);

    // The right code still works after one wrong try.
    await page.getByLabel('Code').fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL((url) => url.pathname === '/passwordless/verify_redirect');
  });
});
