// The standard OIDC flow through the hosted pages with openid-client as the RP, on both databases.
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { findForm } from '../helpers/form-client.js';
import { LOGGED_OUT, REDIRECT, oidcFixture } from './fixture.js';

describe.each(ENGINES)('OIDC flow on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, oidcFixture);
  });
  afterAll(() => t?.stop());

  it('publishes discovery with Auth0-style paths and RS256 + ES256 keys', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(t.issuer);
    expect(meta.authorization_endpoint).toBe(`${t.issuer}/authorize`);
    expect(meta.token_endpoint).toBe(`${t.issuer}/oauth/token`);
    expect(meta.userinfo_endpoint).toBe(`${t.issuer}/userinfo`);
    expect(meta.revocation_endpoint).toBe(`${t.issuer}/oauth/revoke`);
    expect(meta.introspection_endpoint).toBe(`${t.issuer}/oauth/introspect`);
    expect(meta.end_session_endpoint).toBe(`${t.issuer}/oidc/logout`);
    expect(meta.jwks_uri).toBe(`${t.issuer}/.well-known/jwks.json`);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: Array<{ alg: string; kty: string; d?: string }> };
    expect(jwks.keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it('signs in with an emailed code, then userinfo, refresh with rotation, revocation and logout', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config, { ui_locales: 'en' });
    expect(started.page.status).toBe(200);
    expect(started.page.html).toContain('type="email" autocomplete="email"');
    const { result } = await signInWithEmail(t, started, 'Ada@Example.com');
    expect(result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const callback = new URL(result.location!);
    expect(callback.searchParams.get('iss')).toBe(t.issuer);

    const tokens = await exchangeCode(config, started, callback);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: t.issuer, aud: 'app', email: 'ada@example.com', email_verified: true, nonce: started.nonce });
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('RS256');
    expect(tokens.refresh_token).toEqual(expect.any(String));

    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(userinfo).toEqual({ sub: claims.sub, email: 'ada@example.com', email_verified: true });

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(decodeJwt(refreshed.id_token!).sub).toBe(claims.sub);
    expect(await oidc.tokenIntrospection(config, refreshed.access_token)).toMatchObject({ active: true, client_id: 'app', sub: claims.sub });
    // The rotated-out refresh token is refused, and its reuse revokes the whole grant (theft signal).
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await oidc.tokenIntrospection(config, refreshed.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // RP-initiated logout: a confirmation page (no script), then back to the registered URI.
    const logoutUrl = oidc.buildEndSessionUrl(config, { id_token_hint: refreshed.id_token!, post_logout_redirect_uri: LOGGED_OUT, state: 'bye' });
    const confirm = await started.browser.follow(logoutUrl.toString(), t.url);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Do you want to sign out?');
    expect(confirm.html).not.toMatch(/<script(?![^>]*src=)/);
    const done = await started.browser.submit(confirm, '/oidc/logout/confirm', { logout: 'yes' }, t.url);
    expect(done.location).toBe(`${LOGGED_OUT}?state=bye`);

    // The session is gone: a new authorization request shows the sign-in page again.
    const again = await startLogin(t, config, {}, started.browser);
    expect(again.page.html).toContain('action="/interaction/');
    expect(again.page.html).toContain('/email"');
  });

  it("writes a sign-in's session, grant and code before its redirect leaves, so the code redeems at once", async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const { prisma } = t.sesame.services.db;
    /** What the redirect's code stands on, read the moment the redirect arrives, then the code redeemed. */
    const arrived = async (started: { verifier: string; state: string; nonce: string }, location: string | undefined) => {
      expect(location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
      const code = new URL(location!).searchParams.get('code')!;
      const row = await prisma.oidcPayload.findUnique({ where: { model_id: { model: 'AuthorizationCode', id: code } } });
      const { grantId, sessionUid, accountId } = JSON.parse(row!.payload) as Record<string, string>;
      const sessions = await prisma.oidcPayload.findMany({ where: { model: 'Session', accountId }, select: { id: true, uid: true } });
      expect(await prisma.oidcPayload.count({ where: { model: 'Grant', id: grantId, accountId } })).toBe(1);
      const tokens = await exchangeCode(config, started, location);
      expect(tokens.claims()!.sub).toBe(accountId);
      return { sessions, sessionUid };
    };

    const started = await startLogin(t, config);
    const first = await arrived(started, (await signInWithEmail(t, started, 'barbara@example.com')).result.location);
    expect(first.sessions).toEqual([{ id: expect.any(String), uid: first.sessionUid }]);
    // Signed in again in that browser: the resume replaces the session (a new id, the old row deleted).
    const again = await startLogin(t, config, { prompt: 'login' }, started.browser);
    const second = await arrived(again, (await signInWithEmail(t, again, 'barbara@example.com')).result.location);
    expect(second.sessions).toEqual([{ id: expect.any(String), uid: second.sessionUid }]);
    expect(second.sessions[0]!.id).not.toBe(first.sessions[0]!.id);
    // Then straight from the session: the authorization request itself writes the code.
    const silent = await startLogin(t, config, {}, started.browser);
    expect((await arrived(silent, silent.page.location)).sessions).toEqual(second.sessions);
  });

  it('issues a JWT access token for an API audience and client credentials tokens', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config, { audience: 'https://api.example', scope: 'openid email read' });
    const { result } = await signInWithEmail(t, started, 'grace@example.com');
    const tokens = await exchangeCode(config, started, result.location);
    const access = decodeJwt(tokens.access_token);
    expect(access).toMatchObject({ iss: t.issuer, aud: 'https://api.example', scope: 'read', client_id: 'app' });
    // Revoking the refresh token ends it and the grant's access tokens.
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const machine = await oidc.clientCredentialsGrant(config, { audience: 'https://api.example', scope: 'write' });
    expect(decodeJwt(machine.access_token)).toMatchObject({ aud: 'https://api.example', scope: 'write', sub: 'app' });
    expect(machine.refresh_token).toBeUndefined();
  });

  it('asks a third-party client for consent, and cancel returns access_denied', async () => {
    const config = await rpConfig(t, 'partner', oidcFixture.clients[1]!.client_secret);
    const started = await startLogin(t, config, { ui_locales: 'fr' });
    expect(started.page.html).toContain('lang="fr"');
    const { result } = await signInWithEmail(t, started, 'linus@example.com');
    expect(result.status).toBe(200);
    expect(result.html).toContain('<h1>Autoriser Partner à accéder à votre compte\u00a0?</h1>');
    // A sign-in form replayed at the consent step cannot sign in again: it goes back to the current step.
    const consentForm = findForm(result.html, '/consent');
    const replay = await started.browser.request(new URL(consentForm.action.replace(/consent$/, 'email'), t.url).toString(), {
      form: { csrf: consentForm.fields.csrf!, email: 'mallory@example.com' },
    });
    expect([replay.status, replay.headers.get('location')]).toEqual([303, consentForm.action.replace(/\/consent$/, '')]);
    const approved = await started.browser.submit(result, '/consent', { decision: 'allow' }, t.url);
    expect(approved.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);

    const cancelled = await startLogin(t, config, { prompt: 'login' }, started.browser);
    const back = await cancelled.browser.submit(cancelled.page, '/cancel', {}, t.url);
    const denied = new URL(back.location!);
    expect(Object.fromEntries(denied.searchParams)).toEqual({
      error: 'access_denied',
      error_description: 'The user cancelled the sign-in.',
      state: cancelled.state,
      iss: t.issuer,
    });
  });

  it('requires PKCE from public clients', async () => {
    const url = new URL(`${t.issuer}/authorize`);
    url.search = new URLSearchParams({ client_id: 'spa', redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 's1' }).toString();
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(303);
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
  });
});
