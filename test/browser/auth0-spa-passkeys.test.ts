// The real @auth0/auth0-spa-js in Chromium, unmodified, against Sesame's Auth0 passkey API:
// `auth0.passkey.signup()` then `auth0.passkey.login()` with a CDP virtual authenticator. Sesame
// serves https://localhost:<port> with the test CA (spa-js always calls https://<domain>); the app
// page is on http://localhost:<other port> (a secure context, under the relying party id
// `localhost`), so every call is cross-origin: CORS preflights go to Sesame for real, and the
// clientDataJSON origin is the app's, allowed through the client's web_origins (PROTOCOLS-NEXT B.5).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { decodeJwt } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPasskeys } from '../../src/storage/passkeys.js';
import { CHROMIUM_ARGS } from '../helpers/browser.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';

const WEBAUTHN = 'urn:okta:params:oauth:grant-type:webauthn';
const SPA_JS = readFileSync(createRequire(import.meta.url).resolve('@auth0/auth0-spa-js/dist/auth0-spa-js.production.js'));
// The app: one Auth0Client on window (no checkSession: this test signs in with passkeys only).
const APP_JS = `'use strict';
const config = document.body.dataset;
window.app = new auth0.Auth0Client({ domain: config.domain, clientId: config.clientId, authorizationParams: { redirect_uri: location.origin } });
document.body.dataset.ready = 'yes';
`;

/** The app's server on localhost:<port>: its page, its script and spa-js's bundle. */
async function startApp(port: number, domain: string): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (type: string, body: string | Buffer) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    if (req.url === '/spa.js') return send('text/javascript', SPA_JS);
    if (req.url === '/app.js') return send('text/javascript', APP_JS);
    if (req.url === '/') {
      return send(
        'text/html; charset=utf-8',
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Passkey app</title><script src="/spa.js" defer></script><script src="/app.js" defer></script></head><body data-domain="${domain}" data-client-id="spa"><h1>Passkey app</h1></body></html>`,
      );
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('@auth0/auth0-spa-js passkeys in Chromium', { timeout: 180_000 }, () => {
  let t: TestSesame;
  let app: Server;
  let browser: Browser;
  let appOrigin: string;
  const preflights: string[] = [];

  beforeAll(async () => {
    const [sesamePort, appPort] = [await freePort(), await freePort()];
    appOrigin = `http://localhost:${appPort}`;
    const spa = { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [appOrigin], grant_types: ['authorization_code', WEBAUTHN], web_origins: [appOrigin] };
    t = await startTestSesame('sqlite', { clients: [spa], port: sesamePort, issuer: `https://localhost:${sesamePort}/` }, { tls: true });
    t.sesame.server.on('request', (req) => void (req.method === 'OPTIONS' && preflights.push(req.url ?? '')));
    app = await startApp(appPort, `localhost:${sesamePort}`);
    // The resolver rule keeps Chromium on loopback without route(), which would answer CORS preflights itself.
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
    });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
    await t?.stop();
  });

  async function appPage(): Promise<Page> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await addVirtualAuthenticator(context, page);
    await page.goto(appOrigin);
    await page.waitForSelector('body[data-ready="yes"]');
    return page;
  }

  it('signs up with a passkey, then signs in with it, through spa-js unchanged', async () => {
    const page = await appPage();
    type Tokens = { id_token: string; access_token: string };
    const signedUp = await page.evaluate(() =>
      (window as never as { app: { passkey: { signup(o: object): Promise<Tokens> } } }).app.passkey.signup({ email: 'spa@example.com', name: 'Spa User' }),
    );
    const claims = decodeJwt(signedUp.id_token);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email: 'spa@example.com' } });
    expect(claims).toMatchObject({ iss: t.issuer, aud: 'spa', sub: user.id, amr: ['hwk', 'user'], acr: 'urn:sesame:acr:passkey' });
    expect([user.emailVerified, user.name]).toEqual([false, 'Spa User']);
    expect(await listPasskeys(t.sesame.services.db, user.id)).toEqual([expect.objectContaining({ userId: user.id, counter: 1, transports: [] })]);

    const signedIn = await page.evaluate(() => (window as never as { app: { passkey: { login(): Promise<Tokens> } } }).app.passkey.login());
    expect(decodeJwt(signedIn.id_token)).toMatchObject({ sub: user.id, amr: ['hwk', 'user'] });
    expect((await listPasskeys(t.sesame.services.db, user.id))[0]).toMatchObject({ counter: 2, lastUsedAt: expect.any(Date) });
    // Real preflights reached Sesame (nothing in between answered them).
    expect(new Set(preflights)).toEqual(new Set(['/passkey/register', '/passkey/challenge', '/oauth/token']));
  });
});
