// oidc-client-ts (its browser bundle, its defaults) in Chromium against Sesame at http://127.0.0.1:
// code + PKCE sign-in through the hosted pages, signinSilent (hidden iframe, prompt=none) and
// signoutRedirect. Then the constraint of silent renew: the iframe gets the session only when the
// app is on the same site as Sesame (here 127.0.0.1, any port); from another site (the same app
// opened as http://localhost) the SameSite=Lax session cookie stays home and the answer is
// login_required, so such apps renew with refresh tokens instead (tested last).
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBrowser, watchProblems } from '../helpers/browser.js';
import { freePort } from '../helpers/net.js';
import { startOidcSpa, type OidcSpa } from '../helpers/oidc-spa.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';

describe('oidc-client-ts in Chromium', () => {
  let t: TestSesame;
  let spa: OidcSpa;
  let refreshing: OidcSpa;
  const chromium = useBrowser();
  let sameSite: string;
  let crossSite: string;

  beforeAll(async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    [spa, refreshing] = await Promise.all([startOidcSpa({ authority: issuer, clientId: 'spa' }), startOidcSpa({ authority: issuer, clientId: 'spa-refresh' })]);
    sameSite = `http://127.0.0.1:${spa.port}`;
    crossSite = `http://localhost:${spa.port}`;
    const origins = [sameSite, crossSite];
    const client = {
      client_id: 'spa',
      redirect_uris: origins.flatMap((o) => [`${o}/callback.html`, `${o}/silent.html`]),
      post_logout_redirect_uris: origins.map((o) => `${o}/`),
      web_origins: origins,
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'none',
      first_party: true,
    };
    // The same app on another site, allowed refresh tokens.
    const other = `http://localhost:${refreshing.port}`;
    const refreshClient = {
      ...client,
      client_id: 'spa-refresh',
      redirect_uris: [`${other}/callback.html`],
      post_logout_redirect_uris: [`${other}/`],
      web_origins: [other],
      grant_types: ['authorization_code', 'refresh_token'],
    };
    t = await startTestSesame('sqlite', { port, clients: [client, refreshClient] }, { issuer });
  });
  afterAll(async () => {
    await spa?.close();
    await refreshing?.close();
    await t?.stop();
  });

  async function open(origin: string) {
    const context = await chromium.newContext();
    const page = await context.newPage();
    const problems = watchProblems(page);
    const sesame: string[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(t.issuer))
        sesame.push(`${r.method()} ${r.url().slice(t.issuer.length).split('?')[0]}${new URL(r.url()).searchParams.get('prompt') === 'none' ? ' prompt=none' : ''}`);
    });
    await page.goto(`${origin}/`);
    await result(page, 'none');
    return { page, problems, sesame };
  }

  async function result(page: Page, kind: string): Promise<Record<string, unknown>> {
    const out = page.locator(`#result[data-kind="${kind}"]`);
    await out.waitFor();
    return JSON.parse((await out.textContent()) ?? 'null') as Record<string, unknown>;
  }

  async function signIn(page: Page, email: string) {
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByLabel('Sign-in code').waitFor();
    await page.getByLabel('Sign-in code').fill(codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    return result(page, 'user');
  }

  it('signs in with code + PKCE, renews silently in an iframe, and signs out through Sesame', { timeout: 120_000 }, async () => {
    const { page, problems, sesame } = await open(sameSite);
    const user = await signIn(page, 'ada@example.com');
    expect(user).toMatchObject({ profile: { email: 'ada@example.com', email_verified: true }, has_refresh_token: false });
    const authorize = sesame.find((r) => r.startsWith('GET /authorize'));
    expect(authorize).toBe('GET /authorize');

    sesame.length = 0;
    await page.getByRole('button', { name: 'Renew' }).click();
    const renewed = await result(page, 'renewed');
    expect(renewed).toMatchObject({ profile: { sub: (user.profile as { sub: string }).sub, email: 'ada@example.com' } });
    // New tokens: the access token is random; an ID token signed within the same second can be
    // byte-identical (RS256 is deterministic and the claims are the same), so it proves nothing.
    expect(renewed.access_token).toEqual(expect.any(String));
    expect(renewed.access_token).not.toBe(user.access_token);
    // No page, no sign-in: the iframe's authorization request and the code exchange.
    expect(sesame.filter((r) => !r.startsWith('GET /.well-known/'))).toEqual(['GET /authorize prompt=none', 'POST /oauth/token']);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${sameSite}/`);
    await result(page, 'none');
    // Signed out at Sesame too: silent renew now answers login_required.
    await page.getByRole('button', { name: 'Renew' }).click();
    expect(await result(page, 'error')).toEqual({ message: 'End-User authentication is required', error: 'login_required' });
    expect(problems).toEqual([]);
  });

  it('cannot renew silently from another site: the iframe does not carry the SameSite=Lax session cookie', { timeout: 120_000 }, async () => {
    const { page, problems } = await open(crossSite);
    const user = await signIn(page, 'grace@example.com');
    expect(user).toMatchObject({ profile: { email: 'grace@example.com' } });
    await page.getByRole('button', { name: 'Renew' }).click();
    expect(await result(page, 'error')).toEqual({ message: 'End-User authentication is required', error: 'login_required' });
    expect(problems).toEqual([]);
  });

  it('renews from another site with a refresh token, no iframe', { timeout: 120_000 }, async () => {
    const { page, problems, sesame } = await open(`http://localhost:${refreshing.port}`);
    const user = await signIn(page, 'lin@example.com');
    expect(user).toMatchObject({ profile: { email: 'lin@example.com' }, has_refresh_token: true });
    sesame.length = 0;
    await page.getByRole('button', { name: 'Renew' }).click();
    const renewed = await result(page, 'renewed');
    expect(renewed).toMatchObject({ profile: { email: 'lin@example.com' }, has_refresh_token: true });
    expect(sesame.filter((r) => !r.startsWith('GET /.well-known/'))).toEqual(['POST /oauth/token']);
    expect(page.frames()).toHaveLength(1);
    expect(problems).toEqual([]);
  });
});
