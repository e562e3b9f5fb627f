// The sign-in link of the hosted pages in a real Chromium (playwright-core driving Debian's chromium),
// one browser context per "device": one click in the browser that started the sign-in, number
// matching from another device (the waiting page continuing by itself, or by a click without
// JavaScript), and scanners (fetch, HEAD, a browser that renders the page and runs its scripts)
// that never use the link. SQLite is enough: test/hosted/magic-links.test.ts covers both engines.
import type * as oidc from 'openid-client';
import { type BrowserContext, type BrowserContextOptions, type Page, type Response } from 'playwright-core';
import { newAuthorization, useBrowser } from '../helpers/browser.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, exchangeCode } from '../helpers/login.js';
import { linkFrom } from '../helpers/smtp.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { waitFor } from '../helpers/wait.js';

const wrongNumber = (n: string) => String(((Number(n) - 9) % 90) + 10);

// Nothing here watches a page for a while to see that something does not happen: the pages' clocks
// are Playwright's (clock.install), so a test runs their timers forward itself, at once, instead.

/** A sign-in waiting at the code page of context `device`, and the link from its email. */
interface Waiting {
  device: BrowserContext;
  page: Page;
  email: string;
  link: string;
  number: string;
  verifier: string;
  state: string;
  nonce: string;
}

// Chromium and the server share 2 loaded cores here: a sign-in takes a few seconds, sometimes 20.
describe('magic links in Chromium', { timeout: 90_000 }, () => {
  let t: TestSesame;
  const chromium = useBrowser();
  let config: oidc.Configuration;
  let n = 0;
  /** Console errors (CSP violations included) and uncaught page errors of every context. */
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestSesame('sqlite', oidcFixture);
    config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
  });
  beforeEach(() => void (problems.length = 0));
  afterAll(async () => {
    await t?.stop();
  });

  /** A new "device": a browser context whose console errors and page errors land in `problems`. */
  async function device(name: string, options: BrowserContextOptions = {}): Promise<BrowserContext> {
    const context = await chromium.newContext(options);
    context.on('console', (message) => {
      // A wrong or malformed number answers a 400 page by design; Chromium logs that.
      const { url } = message.location();
      const expected = /status of 400\b/.test(message.text()) && new URL(url).pathname === '/login/link/approve';
      if (message.type() === 'error' && !expected) problems.push(`${name}: ${message.text()} (${url})`);
    });
    context.on('weberror', (error) => problems.push(`${name}: ${error.error().message}`));
    return context;
  }

  /** Starts a sign-in (PKCE S256) in `context`, asks for a code and waits at the code page. */
  async function startSignIn(context: BrowserContext): Promise<Waiting> {
    const email = `link${++n}@example.com`;
    const page = await context.newPage();
    const { url, verifier, state, nonce } = await newAuthorization(config, { redirect_uri: REDIRECT, scope: 'openid email' });
    expect((await page.goto(url.href))?.status()).toBe(200);
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByLabel('Sign-in code').waitFor();
    const link = linkFrom(await t.mail.next(email), '/login/link');
    // The number sits in the closed "another device" disclosure; its text is there all the same.
    const number = (await page.locator('#match-number').textContent())?.trim();
    expect(number).toMatch(/^\d{2}$/);
    return { device: context, page, email, link, number: number!, verifier, state, nonce };
  }

  /**
   * The next request of `context` to the RP's redirect_uri (nothing serves 127.0.0.1:9, and
   * page.route cannot fulfil a redirected request). Context-wide: it may come from any tab.
   */
  function rpCallback(context: BrowserContext, timeout = 30_000) {
    return context.waitForEvent('request', { predicate: (r) => r.url().startsWith(`${REDIRECT}?`), timeout }).then((r) => new URL(r.url()));
  }

  /** Checks the callback's parameters and redeems the code like the RP would. */
  async function redeem(waiting: Waiting, callback: URL) {
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    expect(callback.searchParams.get('state')).toBe(waiting.state);
    expect(callback.searchParams.get('iss')).toBe(t.issuer);
    const tokens = await exchangeCode(config, waiting, callback);
    expect(tokens.claims()).toMatchObject({ iss: t.issuer, aud: 'app', email: waiting.email, email_verified: true });
  }

  /** Link page headers: no referrer (the URL carries the token) and a CSP without inline code. */
  function checkHeaders(headers: Record<string, string>) {
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(headers['cache-control']).toBe('no-store');
  }

  /** Opens the link in a new tab of `context` and checks the confirm page. */
  async function openLink(context: BrowserContext, waiting: Waiting): Promise<Page> {
    const page = await context.newPage();
    const response = (await page.goto(waiting.link)) as Response;
    expect(response.status()).toBe(200);
    checkHeaders(response.headers());
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in with this link');
    expect(await page.getByText(`Sign in to Test App as ${waiting.email}?`).isVisible()).toBe(true);
    return page;
  }

  const sessionCookies = async (context: BrowserContext) => (await context.cookies()).filter((c) => c.name.startsWith('_session'));

  /** On `phone`, opens the link, clicks Continue and types `number` (one try: a wrong one ends the link). */
  async function approveOn(phone: BrowserContext, waiting: Waiting, number: string): Promise<Page> {
    const page = await openLink(phone, waiting);
    await page.getByRole('button', { name: 'Continue' }).click();
    const field = page.getByLabel('Number shown on your other device');
    await field.waitFor();
    await field.fill(number);
    await page.getByRole('button', { name: 'Approve sign-in' }).click();
    await page.waitForLoadState();
    return page;
  }

  it('finishes the sign-in with one click when the link opens in the browser that started it', async () => {
    const a = await device('A');
    await a.clock.install();
    // The page's own count of its status requests, made as each fetch starts (none in flight unseen).
    await a.addInitScript(() => {
      const page = window as unknown as { statusFetches: number; fetch: typeof fetch };
      const real = page.fetch;
      page.statusFetches = 0;
      page.fetch = (input, init) => {
        if (String(input).endsWith('/status')) page.statusFetches++;
        return real.call(window, input, init);
      };
    });
    const waiting = await startSignIn(a);
    const tab = await openLink(a, waiting);
    const atRp = rpCallback(a);
    // The first tab, still waiting, learns that its sign-in is over and stops asking.
    const ended = waiting.page.waitForResponse(async (r) => r.url().endsWith('/status') && (await r.json()).ended === true);
    await tab.getByRole('button', { name: 'Continue' }).click();
    await redeem(waiting, await atRp);
    expect((await fetch(waiting.link)).status).toBe(400);
    await ended;
    const fetches = () => waiting.page.evaluate(() => (window as unknown as { statusFetches: number }).statusFetches);
    // The page polls every 2 s: once it has read the "ended" answer (which may take a moment after
    // Playwright saw it), 2 s of page time pass without a fetch. A page that never stops never gets
    // there, and the wait fails.
    await waitFor(
      async () => {
        const before = await fetches();
        await waiting.page.clock.runFor(2_000);
        return (await fetches()) === before;
      },
      { timeout: 20_000, what: 'the waiting page to stop asking for its status' },
    );
    // And it stays stopped: a minute of page time, 30 polls if it were still asking.
    const stoppedAt = await fetches();
    await waiting.page.clock.runFor(60_000);
    expect(await fetches()).toBe(stoppedAt);
    expect(problems).toEqual([]);
  });

  it('approves the waiting device from another one by number; the waiting page continues by itself', async () => {
    const a = await device('A');
    const waiting = await startSignIn(a);
    const b = await device('B');
    const atRp = rpCallback(a).then((url) => ({ url, at: Date.now() }));

    const page = await approveOn(b, waiting, waiting.number);
    await page.getByRole('heading', { level: 1, name: 'Sign\u2011in approved' }).waitFor();
    const approvedAt = Date.now();
    expect(await page.getByText('Go back to your other device: it continues by itself.').isVisible()).toBe(true);

    const { url, at } = await atRp;
    expect(at - approvedAt).toBeLessThan(5_000);
    await redeem(waiting, url);
    expect(await sessionCookies(b)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('ends the link at the first wrong number and says so; the waiting device is not approved', async () => {
    const a = await device('A');
    const waiting = await startSignIn(a);
    const b = await device('B');
    const page = await approveOn(b, waiting, wrongNumber(waiting.number));
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.textContent())!.trim()).toBe(
      'That number does not match the one on your other device, so this link no longer works and no one was signed in. If you did not start this sign-in yourself, someone else may be trying to: ignore it. Otherwise start signing in again.',
    );
    expect(await page.getByLabel('Number shown on your other device').count()).toBe(0);
    expect((await fetch(waiting.link)).status).toBe(400);
    const status = await a.request.get(`${new URL(waiting.page.url()).origin}${new URL(waiting.page.url()).pathname}/status`);
    expect(await status.json()).toEqual({ approved: false });
    expect(await sessionCookies(b)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('without JavaScript the waiting device moves on only when the user clicks continue', async () => {
    const a = await device('A', { javaScriptEnabled: false });
    const refreshing: string[] = [];
    a.on('response', (r) => {
      if (r.headers()['refresh'] !== undefined) refreshing.push(r.url());
    });
    const waiting = await startSignIn(a);
    const waitingUrl = waiting.page.url();
    let atRpEarly = false;
    a.on('request', (r) => {
      if (r.url().startsWith(`${REDIRECT}?`)) atRpEarly = true;
    });
    const b = await device('B');
    const page = await approveOn(b, waiting, waiting.number);
    await page.getByRole('heading', { level: 1, name: 'Sign\u2011in approved' }).waitFor();

    // With scripts off, only a refresh (a Refresh header or a <meta http-equiv="refresh">) could
    // move the page by itself. It has neither, so there is nothing to wait and watch for.
    expect(refreshing).toEqual([]);
    expect(await waiting.page.locator('meta[http-equiv="refresh" i]').count()).toBe(0);
    expect(atRpEarly).toBe(false);
    expect(waiting.page.url()).toBe(waitingUrl);
    const atRp = rpCallback(a);
    await waiting.page.getByText('Signing in on another device?').click();
    await waiting.page.getByRole('button', { name: 'I opened the link on another device — continue' }).click();
    await redeem(waiting, await atRp);
    expect(await sessionCookies(b)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('is not used by scanners that fetch it, ask for its head or render it with scripts', async () => {
    const a = await device('A');
    const waiting = await startSignIn(a);

    // (a) Plain GET and HEAD, as link checkers do.
    const head = await fetch(waiting.link, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(200);
    checkHeaders(Object.fromEntries(head.headers));
    const get = await fetch(waiting.link, { redirect: 'manual' });
    expect(get.status).toBe(200);
    expect(await get.text()).toContain('Sign in with this link');

    // (b) A browser that renders the page, runs its scripts and looks around for an hour of page
    // time: its clock is run forward, so every timer a script set fires now, not in real time.
    const scanner = await device('scanner');
    await scanner.clock.install();
    const posts: string[] = [];
    scanner.on('request', (r) => {
      if (r.method() !== 'GET') posts.push(`${r.method()} ${r.url()}`);
    });
    const scanned = await openLink(scanner, waiting);
    await scanned.clock.runFor(3_600_000);
    expect(posts).toEqual([]);
    expect(new URL(scanned.url()).pathname).toBe('/login/link');
    expect(await scanned.getByRole('button', { name: 'Continue' }).isVisible()).toBe(true);
    expect(await sessionCookies(scanner)).toEqual([]);

    // The user's click still works.
    const tab = await openLink(a, waiting);
    const atRp = rpCallback(a);
    await tab.getByRole('button', { name: 'Continue' }).click();
    await redeem(waiting, await atRp);
    expect(await sessionCookies(scanner)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
