// Auth0-style email links (/passwordless/verify_redirect): opening never uses the link; one explicit
// confirm finishes the stored authorization request at the registered redirect_uri.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import { CALLBACK, apiFixture, sendEmailLink } from './fixture.js';
import { authorizationParams } from '../helpers/authorization.js';

const NATIVE = apiFixture.clients[0]!;
const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe('passwordless links', () => {
  let t: TestSesame;
  let rp: oidc.Configuration;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', apiFixture);
    rp = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => t?.stop());

  const sendLink = (email: string, authParams: Record<string, string>) => sendEmailLink(t, email, authParams);

  it('shows a confirm page on GET and HEAD, then signs in on the explicit confirm', async () => {
    const { params, verifier } = await authorizationParams({ redirect_uri: CALLBACK, scope: 'openid email', state: 'st4te', nonce: 'n0nce' });
    const link = await sendLink('link@example.com', params);
    expect(new URL(link).searchParams.get('verification_code')).toMatch(/^\d{6}$/);
    // A mail scanner opening the link twice, with HEAD too, changes nothing.
    const scanner = new FormClient();
    expect((await scanner.request(link, { method: 'HEAD' })).status).toBe(200);
    expect((await scanner.request(link)).status).toBe(200);

    const browser = new FormClient();
    const page = await browser.request(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.html).toContain('Sign in to Native App as link@example.com?');
    const done = await browser.submit(page, '/passwordless/verify_redirect', {}, t.url);
    const callback = new URL(done.location!);
    expect(callback.origin + callback.pathname).toBe(CALLBACK);
    expect(callback.searchParams.get('state')).toBe('st4te');
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: 'st4te', expectedNonce: 'n0nce' });
    expect(tokens.claims()).toMatchObject({ email: 'link@example.com', email_verified: true });

    // The link is used up: confirming it again (the scanner's copy) fails with a readable page.
    const again = await scanner.submit(await scanner.request(link), '/passwordless/verify_redirect', {}, t.url);
    expect(again.status).toBe(400);
    expect(alertOf(again.html)).toBe('This sign-in link has expired or was already used. Go back to the app and ask for a new one.');
  });

  it("refuses a hand-made link naming another network, so it cannot spend the tries of that network's code", async () => {
    // The victim's link names (sealed) the network its code was sent for. An attacker who changes
    // the code, and forges a seal for a network of their choosing, only gets the "incomplete link"
    // page: the victim's code keeps all its tries and the victim's link still signs in.
    const link = await sendLink('sealed@example.com', { redirect_uri: CALLBACK });
    const network = new URL(link).searchParams.get('network')!;
    expect(network).toMatch(/^127\.0\.0\.0\/24~[\w-]{22}$/);
    const forged = [network.replace(/~.*/, ''), `${network.replace(/~.*/, '')}~${'A'.repeat(22)}`, network.replace('127.0.0.0/24', '127.9.9.0/24')];
    for (const value of forged) {
      for (let i = 0; i < 6; i++) {
        const tampered = new URL(link);
        tampered.searchParams.set('network', value);
        tampered.searchParams.set('verification_code', String(i).padStart(6, '0'));
        const attacker = new FormClient();
        const page = await attacker.request(tampered.toString());
        expect([page.status, alertOf(page.html)]).toEqual([400, 'This sign-in link is incomplete or does not belong to a known application.']);
      }
    }
    const code = await t.sesame.services.db.prisma.oneTimeCode.findFirstOrThrow({ where: { identifier: 'sealed@example.com' } });
    expect(code.attempts).toBe(0);
    const browser = new FormClient();
    const done = await browser.submit(await browser.request(link), '/passwordless/verify_redirect', {}, t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });

  it("refuses a confirm posted without the page's cookie, and links to unregistered redirect URIs", async () => {
    const link = await sendLink('csrf@example.com', { redirect_uri: CALLBACK });
    const page = await new FormClient().request(link);
    const form = findForm(page.html, '/passwordless/verify_redirect');
    const forged = await new FormClient().request(new URL(form.action, t.url).toString(), { form: form.fields });
    expect(forged.status).toBe(403);
    const tampered = new URL(link);
    tampered.searchParams.set('redirect_uri', 'https://evil.example/cb');
    const res = await fetch(tampered);
    expect(res.status).toBe(400);
    expect(alertOf(await res.text())).toBe('This sign-in link is incomplete or does not belong to a known application.');
  });
});
