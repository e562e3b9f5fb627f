// The real @authsignal/browser in Chromium (bundled as an IIFE by esbuild), unmodified, against
// Sesame's client API with a CDP virtual authenticator: `passkey.signUp({token})` for an app user's
// first passkey, `passkey.signIn({token})` for a later action, `passkey.signIn({action})` without a
// username; each result token then validated as Authsignal's validateChallenge would. The app page is
// on http://localhost:<app port> and Sesame on http://localhost:<other port>: every call is
// cross-origin (preflights reach Sesame), and WebAuthn's origin is the app's, under the RP id localhost.
import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintActionToken } from '../../src/passwordless/action-tokens.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { trackAction } from '../../src/passwordless/actions.js';
import { CHROMIUM_ARGS, LOOPBACK_ONLY } from '../helpers/browser.js';
import { freePort } from '../helpers/net.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';

async function sdkBundle(): Promise<string> {
  const out = await build({
    stdin: { contents: "export { Authsignal } from '@authsignal/browser';", resolveDir: process.cwd() },
    bundle: true,
    format: 'iife',
    globalName: 'AuthsignalBrowser',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

async function startApp(port: number, sdk: string, baseUrl: string): Promise<Server> {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title><script src="/sdk.js"></script></head><body><h1>Shop</h1>
<script>window.authsignal = new AuthsignalBrowser.Authsignal({ tenantId: 'shop', baseUrl: ${JSON.stringify(baseUrl)} }); document.body.dataset.ready = 'yes';</script></body></html>`;
  const server = createServer((req, res) => {
    const send = (type: string, body: string) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    if (req.url === '/sdk.js') return send('text/javascript', sdk);
    if (req.url === '/') return send('text/html; charset=utf-8', page);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('@authsignal/browser passkeys in Chromium', { timeout: 180_000 }, () => {
  let t: TestSesame;
  let app: Server;
  let browser: Browser;
  let appOrigin: string;
  const preflights: string[] = [];

  beforeAll(async () => {
    const appPort = await freePort();
    appOrigin = `http://localhost:${appPort}`;
    t = await startTestSesameOnLocalhost('sqlite', {
      features: { authsignalApi: { enabled: true } },
      clients: [{ client_id: 'shop', redirect_uris: [`${appOrigin}/cb`], web_origins: [appOrigin], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] }],
      actions: { policies: { pay: { defaultOutcome: 'CHALLENGE', verificationMethods: ['PASSKEY'], rules: [] }, login: { defaultOutcome: 'ALLOW', rules: [] } } },
    });
    t.sesame.server.on('request', (req) => void (req.method === 'OPTIONS' && preflights.push(req.url ?? '')));
    app = await startApp(appPort, await sdkBundle(), `${t.url}/v1`);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, LOOPBACK_ONLY] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
    await t?.stop();
  });

  const s = () => t.sesame.services;
  const keys = () => ({ cookieKeys: s().cookieKeys, issuer: s().config.issuer });
  const validate = (token: unknown) => validateToken({ ...keys(), db: s().db, config: s().config }, 'shop', { token });
  async function trackToken(userId: string, actionCode = 'pay') {
    const { row } = await trackAction(s(), { tenantId: 'shop', userId, actionCode, ip: '203.0.113.8' });
    return (await mintActionToken(keys(), 'track', row, 600)).token;
  }

  async function appPage(): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await addVirtualAuthenticator(context, page);
    await page.goto(appOrigin);
    await page.waitForSelector('body[data-ready="yes"]');
    return page;
  }

  it('signs up with the track token, signs in for a later action, and without a username; each token validates once', async () => {
    const page = await appPage();
    const first = await trackToken('carol');
    const signedUp = await page.evaluate((token) => (window as never as { authsignal: any }).authsignal.passkey.signUp({ token, username: 'carol@shop.example' }), first);
    expect(signedUp.error).toBeUndefined();
    expect(await validate(signedUp.data.token)).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', userId: 'carol', actionCode: 'pay', verificationMethod: 'PASSKEY' });
    const available = (userId: string) => page.evaluate((userId) => (window as never as { authsignal: any }).authsignal.passkey.isAvailableOnDevice({ userId }), userId);
    expect([await available('carol'), await available('nobody')]).toEqual([true, false]);

    const second = await trackToken('carol');
    const signedIn = await page.evaluate((token) => (window as never as { authsignal: any }).authsignal.passkey.signIn({ token }), second);
    expect(signedIn.data).toMatchObject({ isVerified: true, userId: 'carol', token: expect.any(String) });
    expect(await validate(signedIn.data.token)).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', userId: 'carol' });
    expect(await validate(signedIn.data.token)).toMatchObject({ isValid: false, state: 'CHALLENGE_SUCCEEDED' });

    const usernameless = await page.evaluate(() => (window as never as { authsignal: any }).authsignal.passkey.signIn({ action: 'login' }));
    expect(usernameless.data).toMatchObject({ isVerified: true, userId: 'carol', token: expect.any(String) });
    expect(await validate(usernameless.data.token)).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', userId: 'carol', actionCode: 'login' });
    // The calls were cross-origin for real: the browser asked Sesame first.
    expect(preflights).toEqual(expect.arrayContaining(['/v1/client/verify/passkey', '/v1/client/challenge']));
  });

  it("reports the SDK's expired-token error to the app when the track token has expired", async () => {
    const page = await appPage();
    const { row } = await trackAction(s(), { tenantId: 'shop', userId: 'dave', actionCode: 'pay', ip: '203.0.113.8' });
    const stale = (await mintActionToken(keys(), 'track', row, -5)).token;
    const answer = await page.evaluate((token) => (window as never as { authsignal: any }).authsignal.passkey.signIn({ token }), stale);
    // The SDK puts the description in `error` and keeps the code in `errorCode` (what onTokenExpired keys on).
    expect(answer).toMatchObject({ error: 'The token has expired. Track the action again for a new one.', errorCode: 'expired_token' });
  });

  /** A Sesame page (any: here its 404) holding the passkey button as the pre-built page renders it. */
  async function challengePage(page: Page, token: string, enrol: boolean) {
    await page.goto(`${t.url}/v1/ui-test?mode=popup`);
    await page.evaluate(
      async ({ token, enrol }) => {
        const root = document.createElement('div');
        root.id = 'action-passkey';
        root.hidden = true;
        root.dataset.token = token;
        if (enrol) root.dataset.enrol = '';
        root.innerHTML = '<button type="button" hidden>Use a passkey</button><p id="action-passkey-problem" hidden>That did not work.</p>';
        document.body.append(root);
        for (const src of ['/assets/simplewebauthn-browser.js', '/assets/action-passkey.js']) {
          await new Promise((resolve, reject) => document.body.append(Object.assign(document.createElement('script'), { src, onload: resolve, onerror: reject })));
        }
      },
      { token, enrol },
    );
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(/\/v1\/ui\/done\?/);
    const done = new URL(page.url());
    expect(done.searchParams.get('mode')).toBe('popup');
    return done.searchParams.get('token');
  }

  it("the page's passkey button adds a first passkey, then passes a later action with it, and goes to the page's finish route", async () => {
    const page = await appPage();
    expect(await validate(await challengePage(page, await trackToken('erin'), true))).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', userId: 'erin' });
    expect(await validate(await challengePage(page, await trackToken('erin'), false))).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', userId: 'erin' });
  });
});
