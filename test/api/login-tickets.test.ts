// Login CSRF through login tickets (issue 11, item 3): an attacker confirms their own emailed
// sign-in link and hands the URL it leads to to a victim. That URL must not sign the victim in as
// the attacker, not even with the attacker's own ticket cookie value pasted into it; the attacker's
// browser still finishes its sign-in. On both engines: the ticket's binding lives in storage.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import { CALLBACK, apiFixture, sendEmailLink } from './fixture.js';
import { authorizationParams } from '../helpers/authorization.js';

const NATIVE = apiFixture.clients[0]!;

describe.each(ENGINES)('login tickets of email links on %s', (engine) => {
  let t: TestSesame;
  let rp: oidc.Configuration;
  beforeAll(async () => {
    t = await startTestSesame(engine, apiFixture);
    rp = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => t?.stop());

  /** The attacker's own emailed link, sent through /passwordless/start with authorization parameters. */
  const linkFor = (email: string, authParams: Record<string, string>) => sendEmailLink(t, email, authParams);

  it('does not sign a victim in with the URL an attacker got from confirming their own link', async () => {
    const { params: authParams, verifier } = await authorizationParams({ redirect_uri: CALLBACK, scope: 'openid email', state: 'attacker-state', nonce: 'attacker-nonce' });
    const link = await linkFor(`attacker-${engine}@example.com`, authParams);
    const attacker = new FormClient();
    const page = await attacker.request(link);
    const confirmed = await attacker.request(new URL('/passwordless/verify_redirect', t.url).toString(), { form: findForm(page.html, '/passwordless/verify_redirect').fields });
    expect(confirmed.status).toBe(303);
    const handed = new URL(confirmed.headers.get('location')!, t.url);
    const ticket = attacker.cookie('sesame.ticket') ?? handed.searchParams.get('login_ticket');

    // The victim opens the URL as handed, and with the attacker's ticket pasted in as a parameter.
    for (const url of [handed.href, `${handed.href}&login_ticket=${ticket}`]) {
      const victim = new FormClient();
      const landed = await victim.follow(url, t.url);
      expect(landed.location).toBeUndefined();
      expect(landed.status).toBe(200);
      expect(new URL(landed.url).pathname).toMatch(/^\/interaction\/[\w-]+$/);
      expect(landed.html).toContain('autocomplete="email"');
      expect(victim.cookieNames().filter((c) => c.startsWith('_session'))).toEqual([]);
    }

    // Nothing secret in the URL: the ticket is a cookie of the attacker's browser.
    expect(handed.pathname).toBe('/authorize');
    expect(handed.searchParams.get('login_ticket')).toBeNull();
    expect(handed.searchParams.get('ticket_ref')).toMatch(/^[\w-]{22}$/);
    expect(ticket).toMatch(/^[\w-]{43}$/);

    // The attacker's own browser (the one that confirmed) still finishes, once.
    const done = await attacker.follow(handed.href, t.url);
    const callback = new URL(done.location!);
    expect(callback.origin + callback.pathname).toBe(CALLBACK);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: 'attacker-state', expectedNonce: 'attacker-nonce' });
    expect(tokens.claims()).toMatchObject({ email: `attacker-${engine}@example.com` });
  });

  it("redeems a link's ticket cookie only in the authorization request the link started", async () => {
    const link = await linkFor(`tab-${engine}@example.com`, { redirect_uri: CALLBACK, scope: 'openid' });
    const browser = new FormClient();
    const page = await browser.request(link);
    const confirmed = await browser.request(new URL('/passwordless/verify_redirect', t.url).toString(), { form: findForm(page.html, '/passwordless/verify_redirect').fields });
    const handed = new URL(confirmed.headers.get('location')!, t.url);
    // Another authorization request of the same client in the same browser: the ticket is not its.
    const other = new URL(handed);
    other.searchParams.delete('ticket_ref');
    const elsewhere = await browser.follow(other.href, t.url);
    expect([elsewhere.status, elsewhere.location]).toEqual([200, undefined]);
    expect(elsewhere.html).toContain('autocomplete="email"');
    // The request the link started still gets it.
    const done = await browser.follow(handed.href, t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });
});
