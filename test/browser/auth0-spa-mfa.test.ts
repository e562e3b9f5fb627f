// The real @auth0/auth0-spa-js in Chromium, unmodified, against Sesame's MFA API: a passkey sign-up
// answered with mfa_required (passkeys are taken out of mfa.factors here, so the passkey is a first
// factor only), then `auth0.mfa.enroll()` / `verify()` with a TOTP code computed from the secret the
// page received, then a passkey sign-in challenged with `mfa.getAuthenticators()` and `verify()`.
// Sesame serves https://localhost:<port> with the test CA; the app page is on another origin, so
// every call is cross-origin (CORS preflights reach Sesame), by a public client (no secret), and
// spa-js resends neither scope nor audience on the MFA grant.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { decodeJwt } from 'jose';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS } from '../helpers/browser.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';
import { MFA_ACR, MFA_GRANTS, totp } from '../api/mfa-fixture.js';

const WEBAUTHN = 'urn:okta:params:oauth:grant-type:webauthn';
const SPA_JS = readFileSync(createRequire(import.meta.url).resolve('@auth0/auth0-spa-js/dist/auth0-spa-js.production.js'));
// The app: one Auth0Client on window; `run(step, args)` calls it and answers errors as data.
const APP_JS = `'use strict';
const config = document.body.dataset;
window.app = new auth0.Auth0Client({ domain: config.domain, clientId: config.clientId, authorizationParams: { redirect_uri: location.origin } });
window.run = async (step, args) => {
  try {
    return { ok: await step.split('.').reduce((o, k, i, all) => (i === all.length - 1 ? o[k].bind(o) : o[k]), window.app)(...args) };
  } catch (e) {
    return { error: { name: e instanceof auth0.MfaRequiredError ? 'MfaRequiredError' : String(e.error ?? e), error: e.error, error_description: e.error_description, mfa_token: e.mfa_token, mfa_requirements: e.mfa_requirements } };
  }
};
document.body.dataset.ready = 'yes';
`;

async function startApp(port: number, domain: string): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (type: string, body: string | Buffer) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    if (req.url === '/spa.js') return send('text/javascript', SPA_JS);
    if (req.url === '/app.js') return send('text/javascript', APP_JS);
    if (req.url === '/') {
      return send(
        'text/html; charset=utf-8',
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MFA app</title><script src="/spa.js" defer></script><script src="/app.js" defer></script></head><body data-domain="${domain}" data-client-id="spa"><h1>MFA app</h1></body></html>`,
      );
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

type Outcome = { ok?: Record<string, unknown>; error?: { name: string; error: string; error_description: string; mfa_token: string; mfa_requirements: unknown } };

describe('@auth0/auth0-spa-js MFA in Chromium', { timeout: 180_000 }, () => {
  let t: TestSesame;
  let app: Server;
  let browser: Browser;
  let appOrigin: string;
  const preflights: string[] = [];

  beforeAll(async () => {
    const [sesamePort, appPort] = [await freePort(), await freePort()];
    appOrigin = `http://localhost:${appPort}`;
    const grants = ['authorization_code', WEBAUTHN, ...MFA_GRANTS];
    const spa = { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [appOrigin], grant_types: grants, web_origins: [appOrigin], mfa_policy: 'always' };
    const mfa = { factors: ['totp', 'recovery-code'] };
    t = await startTestSesame('sqlite', { clients: [spa], mfa, port: sesamePort, issuer: `https://localhost:${sesamePort}/` }, { tls: true });
    t.sesame.server.on('request', (req) => void (req.method === 'OPTIONS' && preflights.push(req.url ?? '')));
    app = await startApp(appPort, `localhost:${sesamePort}`);
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

  const run = (page: Page, step: string, ...args: unknown[]): Promise<Outcome> =>
    page.evaluate(([s, a]) => (window as never as { run(s: string, a: unknown[]): Promise<Outcome> }).run(s, a), [step, args] as const);

  it('completes mfa_required from the passkey grant: enrols an authenticator app, then is challenged with it', async () => {
    const page = await appPage();
    const signup = await run(page, 'passkey.signup', { email: 'spa-mfa@example.com', name: 'Spa' });
    expect(signup.error).toEqual({
      name: 'MfaRequiredError',
      error: 'mfa_required',
      error_description: 'Multifactor authentication required',
      mfa_token: expect.any(String),
      mfa_requirements: { enroll: [{ type: 'otp' }] },
    });
    const mfaToken = signup.error!.mfa_token;
    expect((await run(page, 'mfa.getEnrollmentFactors', mfaToken)).ok).toEqual([{ type: 'otp' }]);
    const enrolment = (await run(page, 'mfa.enroll', { mfaToken, factorType: 'otp' })).ok as { secret: string; recoveryCodes: string[] };
    expect(enrolment).toMatchObject({ authenticatorType: 'otp', secret: expect.any(String), recoveryCodes: expect.any(Array) });
    const verified = await run(page, 'mfa.verify', { mfaToken, otp: totp(enrolment.secret) });
    expect(decodeJwt(verified.ok!.id_token as string)).toMatchObject({ aud: 'spa', amr: ['hwk', 'user', 'otp', 'mfa'], acr: MFA_ACR });

    const login = await run(page, 'passkey.login');
    expect(login.error).toMatchObject({ name: 'MfaRequiredError', mfa_requirements: { challenge: [{ type: 'otp' }, { type: 'recovery-code' }] } });
    const loginToken = login.error!.mfa_token;
    // spa-js keeps the authenticators whose type the challenge named.
    expect(((await run(page, 'mfa.getAuthenticators', loginToken)).ok as unknown as { type: string }[]).map((a) => a.type)).toEqual(['otp', 'recovery-code']);
    const again = await run(page, 'mfa.verify', { mfaToken: loginToken, otp: totp(enrolment.secret, 1) });
    expect(decodeJwt(again.ok!.id_token as string)).toMatchObject({ aud: 'spa', acr: MFA_ACR });
    expect(new Set(preflights)).toEqual(new Set(['/passkey/register', '/passkey/challenge', '/oauth/token', '/mfa/associate', '/mfa/authenticators']));
  });
});
