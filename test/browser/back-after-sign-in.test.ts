// Back after signing in, in a real Chromium: the sign-in pages come back from the server (no-store,
// never the back/forward cache) and say the sign-in is done, with the way on to the app; a consent
// page left open in another tab does not fail when its "Allow" is pressed late.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthorization, useBrowser } from '../helpers/browser.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';

/** The relying party's pages: its home (client_uri) and its redirect_uri, both plain 200 pages. */
async function startRp(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://rp').pathname;
    const title = path === '/cb' ? 'Signed in at the app' : path === '/home' ? 'App home' : 'Not found';
    res.writeHead(path === '/cb' || path === '/home' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,"></head><body><h1>${title}</h1></body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('Back after signing in (Chromium)', () => {
  let t: TestSesame;
  const chromium = useBrowser();
  let rp: { server: Server; origin: string };
  const secrets = { shop: 'shop-secret-shop-secret-shop-secret', first: 'first-secret-first-secret-first-xx' };

  beforeAll(async () => {
    rp = await startRp();
    const fixture = {
      clients: [
        { client_id: 'shop', client_secret: secrets.shop, client_name: 'Shop', client_uri: `${rp.origin}/home`, redirect_uris: [`${rp.origin}/cb`] },
        { client_id: 'first', client_secret: secrets.first, client_name: 'First', redirect_uris: [`${rp.origin}/cb`], first_party: true },
      ],
    };
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => rp?.server.close(resolve));
  });

  async function open(clientId: 'shop' | 'first', options: { javaScriptEnabled?: boolean } = {}) {
    const context = await chromium.newContext(options);
    const config = await rpConfig(t, clientId, secrets[clientId]);
    return openAuthorization(context, config, { redirect_uri: `${rp.origin}/cb`, scope: 'openid email' });
  }

  async function signIn(page: Page, email: string) {
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByLabel('Sign-in code').fill(codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  /** What the page says: heading, paragraphs, links, buttons. */
  async function shown(page: Page) {
    return {
      heading: (await page.getByRole('heading', { level: 1 }).textContent())?.trim(),
      text: (await page.locator('main p:not(.brand)').allTextContents()).map((s) => s.trim()),
      links: await page.getByRole('link').evaluateAll((links) => links.map((a) => ({ text: a.textContent?.trim(), href: (a as HTMLAnchorElement).href }))),
      buttons: await page.getByRole('button').count(),
    };
  }

  /** Back in history: answered by the server (a response, no-store), not from the back/forward cache. */
  async function goBack(page: Page, path: RegExp) {
    const response = await page.goBack();
    expect(response, 'Back was answered by the server').not.toBeNull();
    expect([response!.status(), response!.headers()['cache-control'], new URL(page.url()).pathname]).toEqual([200, 'no-store', expect.stringMatching(path)]);
  }

  it('after consent: Back shows "signed in" on the consent and code pages, and the link goes on to the app', async () => {
    const walk = await open('shop');
    const { page } = walk;
    await signIn(page, 'back@example.com');
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    const consentUrl = page.url();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${rp.origin}/cb?**`);
    expect(await page.title()).toBe('Signed in at the app');

    const done = {
      heading: 'You are signed in',
      text: ['You already finished signing in to Shop on this page.', 'You can close this page, or go back to Shop.', 'Continue to Shop'],
      links: [{ text: 'Continue to Shop', href: `${rp.origin}/home` }],
      buttons: 0,
    };
    await goBack(page, /^\/interaction\/[\w-]+$/);
    expect(page.url()).toBe(consentUrl);
    expect(await shown(page)).toEqual(done);
    await goBack(page, /^\/interaction\/[\w-]+$/);
    expect(page.url()).not.toBe(consentUrl);
    expect(await shown(page)).toEqual(done);

    await page.getByRole('link', { name: 'Continue to Shop' }).click();
    await page.waitForURL(`${rp.origin}/home`);
    expect(await page.title()).toBe('App home');
    expect(walk.problems).toEqual([]);
  });

  it('a consent page left open in another tab: its late "Allow" shows the signed-in page, not a failure', async () => {
    const walk = await open('shop');
    await signIn(walk.page, 'tabs@example.com');
    await walk.page.getByRole('button', { name: 'Allow' }).waitFor();
    const consentUrl = walk.page.url();
    const other = await walk.page.context().newPage();
    await other.goto(consentUrl);
    await walk.page.getByRole('button', { name: 'Allow' }).click();
    await walk.page.waitForURL(`${rp.origin}/cb?**`);

    await other.getByRole('button', { name: 'Allow' }).click();
    await other.getByRole('heading', { name: 'You are signed in' }).waitFor();
    expect(other.url()).toBe(consentUrl);
    expect(await shown(other)).toEqual({
      heading: 'You are signed in',
      text: ['You already finished signing in to Shop on this page.', 'You can close this page, or go back to Shop.', 'Continue to Shop'],
      links: [{ text: 'Continue to Shop', href: `${rp.origin}/home` }],
      buttons: 0,
    });
    expect(walk.problems).toEqual([]);
  });

  it('without JavaScript, a first-party app without client_uri: Back says signed in, with no link', async () => {
    const walk = await open('first', { javaScriptEnabled: false });
    const { page } = walk;
    await signIn(page, 'nojs@example.com');
    await page.waitForURL(`${rp.origin}/cb?**`);
    await goBack(page, /^\/interaction\/[\w-]+$/);
    expect(await shown(page)).toEqual({
      heading: 'You are signed in',
      text: ['You already finished signing in to First on this page.', 'You can close this page, or go back to First.'],
      links: [],
      buttons: 0,
    });
    expect(walk.problems).toEqual([]);
  });
});
