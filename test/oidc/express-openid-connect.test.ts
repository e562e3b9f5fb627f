// Auth0's express-openid-connect as the relying party, with its defaults: response_type id_token,
// response_mode form_post, so the ID token comes back in a cross-site POST from Sesame's page
// (https://localhost:<port>) to the app (https://127.0.0.1:<port>). Chromium signs in through the
// hosted pages, reaches a protected route showing the claims, and logs out through Sesame.
// The app is https: OIDC client registration forbids http (and localhost) redirect URIs for clients
// that receive ID tokens in the front channel, and the library's transaction cookie for form_post
// is SameSite=None, which browsers keep only with Secure.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { auth } from 'express-openid-connect';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBrowser, watchProblems } from '../helpers/browser.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { testCertificates } from '../helpers/tls.js';

const SECRET = 'rp-secret-rp-secret-rp-secret-rp';
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

describe('express-openid-connect with its defaults', () => {
  let t: TestSesame;
  let server: Server;
  let baseURL: string;
  const chromium = useBrowser();
  let context: BrowserContext;

  beforeAll(async () => {
    const certs = testCertificates();
    const app = express();
    server = createServer({ cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) }, app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseURL = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const port = await freePort();
    const client = {
      client_id: 'express-app',
      client_secret: SECRET,
      redirect_uris: [`${baseURL}/callback`, `${baseURL}/echo`],
      post_logout_redirect_uris: [baseURL],
      response_types: ['id_token'],
      grant_types: ['implicit'],
      first_party: true,
    };
    // No passkey offer: on a localhost issuer it would stop the hosted sign-in (test/hosted/passkey-offer.test.ts).
    t = await startTestSesame('sqlite', { port, clients: [client], passkeys: { offerEnrolment: false } }, { tls: true, issuer: `https://localhost:${port}` });

    // Unprotected pages of the app (before the library's middleware): one that posts a form to
    // Sesame (`to` and the fields from the query), and one that shows what a form_post brought.
    app.get('/post', (req, res) => {
      const { to, ...fields } = req.query as Record<string, string>;
      const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`);
      res.type('html').send(`<!doctype html><title>Post</title><form method="post" action="${escape(to!)}">${inputs.join('')}<button>Go</button></form>`);
    });
    app.post('/echo', express.urlencoded({ extended: false }), (req, res) => {
      res.json(req.body);
    });
    app.use(
      auth({
        issuerBaseURL: t.issuer,
        baseURL,
        clientID: 'express-app',
        clientSecret: SECRET,
        secret: 'a-long-random-session-encryption-secret',
        // Not a default: without it /logout only ends the app's own session; with it the library
        // sends the browser on to Sesame's end_session_endpoint (from discovery).
        idpLogout: true,
      }),
    );
    app.get('/profile', (req, res) => {
      res.json(req.oidc.user);
    });
    app.get('/', (_req, res) => {
      res.type('html').send('<!doctype html><title>Home</title><h1>Home</h1>');
    });
    // One context shared by both tests, as before (useBrowser's own contexts close after each test); it closes with the browser.
    // Chromium does not know the test CA (Node does, through NODE_EXTRA_CA_CERTS).
    context = await (await chromium.browser()).newContext({ ignoreHTTPSErrors: true });
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await t?.stop();
  });

  /**
   * Opens the app's protected /profile and signs in at Sesame with an emailed code. The library asks
   * for `profile` by default, so a new account is asked its name once: given, or skipped.
   */
  async function signInThroughApp(page: Page, email: string, name?: string): Promise<void> {
    await page.goto(`${baseURL}/profile`);
    await page.waitForURL(/\/interaction\//);
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByLabel('Sign-in code').waitFor();
    await page.getByLabel('Sign-in code').fill(codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    if (name) {
      await page.getByLabel('Your name').fill(name);
      await page.getByRole('button', { name: 'Continue' }).click();
    } else {
      await page.getByRole('button', { name: 'Skip' }).click();
    }
    await page.waitForURL(`${baseURL}/profile`);
  }

  // Generous: Chromium, two servers and a mail round trip on a machine shared with other test files.
  it('signs in through the hosted pages, shows the claims on a protected route, and logs out at Sesame', { timeout: 120_000 }, async () => {
    const page = await context.newPage();
    const problems = watchProblems(page);
    const requests: string[] = [];
    page.on('request', (request) => requests.push(`${request.method()} ${request.url().split('?')[0]}`));

    await signInThroughApp(page, 'ada@example.com', 'Ada Lovelace');
    expect(requests.find((r) => r.startsWith(`GET ${t.issuer}/authorize`))).toBeDefined();
    // The ID token came back by a cross-site form POST to the app's callback.
    expect(requests).toContain(`POST ${baseURL}/callback`);
    const user = JSON.parse((await page.locator('body').innerText()).trim()) as Record<string, unknown>;
    expect(user).toEqual({
      sub: expect.any(String),
      email: 'ada@example.com',
      email_verified: true,
      name: 'Ada Lovelace',
      acr: 'urn:sesame:acr:email',
      amr: ['email', 'otp'],
    });

    // RP logout → Sesame's end_session (confirmation) → back to the app, which asks to sign in again.
    await page.goto(`${baseURL}/logout`);
    await page.waitForURL(new RegExp(`^${t.issuer}/oidc/logout\\?`));
    expect(new URL(page.url()).searchParams.get('post_logout_redirect_uri')).toBe(baseURL);
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(/\/interaction\//);
    // Less the passkey options the email page's script fetches for the autofill (passkeys work on a localhost issuer).
    const posts = requests.filter((r) => r.startsWith('POST') && !r.endsWith('/passkey/options'));
    expect(posts.map((r) => r.replace(/\/interaction\/[^/]+/, '/interaction/…'))).toEqual([
      `POST ${t.issuer}/interaction/…/email`,
      `POST ${t.issuer}/interaction/…/code`,
      `POST ${t.issuer}/interaction/…/name`,
      `POST ${baseURL}/callback`,
      `POST ${t.issuer}/oidc/logout/confirm`,
    ]);
    expect(problems).toEqual([]);
  });

  it('keeps the Sesame session on a cross-site POST to /authorize and /oidc/logout (the 303 to GET carries SameSite=Lax cookies)', { timeout: 120_000 }, async () => {
    const page = await context.newPage();
    const problems = watchProblems(page);
    const requests: string[] = [];
    page.on('request', (request) => requests.push(`${request.method()} ${request.url().split('?')[0]}`));
    // Signed out by the test before: sign in again through the app.
    await signInThroughApp(page, 'grace@example.com');

    // The app's page posts an authorization request to Sesame (another site): no sign-in page, the
    // ID token comes straight back by form_post.
    const params = {
      client_id: 'express-app',
      response_type: 'id_token',
      response_mode: 'form_post',
      scope: 'openid email',
      redirect_uri: `${baseURL}/echo`,
      state: 's1',
      nonce: 'n1',
    };
    const postAuthorization = async () => {
      requests.length = 0;
      await page.goto(`${baseURL}/post?${new URLSearchParams({ to: `${t.issuer}/authorize`, ...params })}`);
      await page.getByRole('button', { name: 'Go' }).click();
      await page.waitForURL(`${baseURL}/echo`);
      expect(Object.keys(JSON.parse(await page.locator('body').innerText()) as object).sort()).toEqual(['id_token', 'state']);
      const seen = requests.filter((r) => !r.includes('/assets/')).map((r) => r.replace(/\/(interaction|authorize)\/[^/]+$/, '/$1/…'));
      expect(seen).toEqual([`GET ${baseURL}/post`, `POST ${t.issuer}/authorize`, `GET ${t.issuer}/authorize`, `POST ${baseURL}/echo`]);
    };
    await postAuthorization();

    // A logout POST from another site shows the confirmation, as GET does; "No" keeps the session.
    await page.goto(`${baseURL}/post?${new URLSearchParams({ to: `${t.issuer}/oidc/logout`, client_id: 'express-app', post_logout_redirect_uri: baseURL })}`);
    await page.getByRole('button', { name: 'Go' }).click();
    await page.getByRole('heading', { name: 'Do you want to sign out?' }).waitFor();
    await page.getByRole('button', { name: 'No, stay signed in' }).click();
    await page.waitForURL(`${baseURL}/`);
    // "No" ends this app's part of the session only: its (first-party) consent is given again
    // where the grant is loaded (oidc/first-party-grant.ts), without a page or a hop, and nobody
    // is asked to sign in.
    await postAuthorization();
    expect(problems).toEqual([]);
  });
});
