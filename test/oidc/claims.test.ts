// Claims, acr and amr (issue 12 item 5) with openid-client as the RP, through the real server and
// hosted pages: the claims parameter per destination (and what it cannot reach), acr and amr for
// every way in that issues ID tokens, and acr_values / essential acr choosing the offered methods.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { FormClient } from '../helpers/form-client.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { createServiceClient } from '../../src/connections/external.js';
import { finishAtRp, handOff, OPERATOR_LOGIN, signedUrl } from '../connections/external-fixture.js';
import { OTP, apiFixture } from '../api/fixture.js';
import { REDIRECT, oidcFixture } from './fixture.js';
import { waitFor } from '../helpers/wait.js';

const ACR = { email: 'urn:sesame:acr:email', sms: 'urn:sesame:acr:sms', external: 'urn:sesame:acr:external', passkey: 'urn:sesame:acr:passkey' };
const APP_SECRET = oidcFixture.clients[0]!.client_secret;
const PARTNER_SECRET = oidcFixture.clients[1]!.client_secret;
const NATIVE = apiFixture.clients[0]!;
const CORP = { id: 'corp', type: 'external' as const, name: 'Corp login', authorizationUrl: OPERATOR_LOGIN, accountId: 'acct1' };
const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe.each(ENGINES)('claims, acr and amr on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let app: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, {
      clients: [...oidcFixture.clients, NATIVE],
      connections: [{ id: 'email', type: 'email' }, { id: 'sms', type: 'sms', allowedCountries: ['US'], defaultCountry: 'US', provider: { type: 'capture' } }, CORP],
    });
    app = await rpConfig(t, 'app', APP_SECRET);
  });
  afterAll(() => t?.stop());

  const nextEmail = () => `claims${++n}-${engine}@example.com`;
  const nextPhone = () => `+1650253${String(1000 + ++n).slice(-4)}`;

  /** The text the capture provider keeps for `to`, waiting for the request to have queued it. */
  async function smsCodeTo(to: string): Promise<string> {
    const row = await waitFor(() => t.sesame.services.db.prisma.outboxMessage.findFirst({ where: { channel: 'sms', recipient: to }, orderBy: { createdAt: 'desc' } }), {
      what: `an SMS to ${to}`,
    });
    return /^(\d{6})/.exec(row.text)![1]!;
  }

  async function redeem(config: oidc.Configuration, started: Awaited<ReturnType<typeof startLogin>>, location: string | undefined) {
    expect(location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    return exchangeCode(config, started, location);
  }

  /** An authorization request that Sesame refuses at once: the error parameters of its redirect to the RP. */
  async function refusedAtAuthorize(params: Record<string, string>) {
    const started = await startLogin(t, app, params);
    expect(started.page.status).toBe(303);
    const location = new URL(started.page.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    return Object.fromEntries(location.searchParams);
  }

  it('publishes the claims parameter, the acr values and the claims in discovery', async () => {
    const meta = app.serverMetadata();
    expect(meta.claims_parameter_supported).toBe(true);
    expect(meta.acr_values_supported).toEqual([ACR.email, ACR.sms, ACR.external, ACR.passkey, 'http://schemas.openid.net/pape/policies/2007/06/multi-factor']);
    expect([...(meta.claims_supported ?? [])].sort()).toEqual([
      'acr',
      'amr',
      'auth_time',
      'email',
      'email_verified',
      'iss',
      'name',
      'phone_number',
      'phone_number_verified',
      'sid',
      'sub',
    ]);
  });

  it('puts acr and amr of an emailed code in the ID token (and the refreshed one), never in userinfo', async () => {
    const email = nextEmail();
    const started = await startLogin(t, app);
    const tokens = await redeem(app, started, (await signInWithEmail(t, started, email)).result.location);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ acr: ACR.email, amr: ['email', 'otp'], email });
    expect(await oidc.fetchUserInfo(app, tokens.access_token, claims.sub)).toEqual({ sub: claims.sub, email, email_verified: true });
    const refreshed = await oidc.refreshTokenGrant(app, tokens.refresh_token!);
    expect(decodeJwt(refreshed.id_token!)).toMatchObject({ sub: claims.sub, acr: ACR.email, amr: ['email', 'otp'] });
  });

  it('honours the claims parameter per destination: id_token claims in the ID token, userinfo claims in userinfo', async () => {
    const email = nextEmail();
    const started = await startLogin(t, app, {
      scope: 'openid',
      claims: JSON.stringify({ id_token: { email: { essential: true } }, userinfo: { name: null, email_verified: null } }),
    });
    const tokens = await redeem(app, started, (await signInWithEmail(t, started, email)).result.location);
    const claims = tokens.claims()!;
    expect(claims.email).toBe(email);
    expect(claims).not.toHaveProperty('email_verified');
    expect(claims).not.toHaveProperty('name');
    await t.sesame.services.db.prisma.user.update({ where: { id: claims.sub }, data: { name: 'Ada Lovelace' } });
    expect(await oidc.fetchUserInfo(app, tokens.access_token, claims.sub)).toEqual({ sub: claims.sub, name: 'Ada Lovelace', email_verified: true });
  });

  it("asks a third-party client's user before releasing claims requested outside the granted scopes", async () => {
    const partner = await rpConfig(t, 'partner', PARTNER_SECRET);
    const email = nextEmail();
    const claimsParam = JSON.stringify({ userinfo: { email: null, phone_number: null } });
    // First sign-in: consent to openid only (the page lists nothing but the implied sign-in).
    const first = await startLogin(t, partner, { scope: 'openid' });
    const consent = (await signInWithEmail(t, first, email)).result;
    expect(consent.html).not.toContain('See your email address');
    const tokens = await redeem(partner, first, (await first.browser.submit(consent, '/consent', { decision: 'allow' }, t.url)).location);
    expect(await oidc.fetchUserInfo(partner, tokens.access_token, tokens.claims()!.sub)).toEqual({ sub: tokens.claims()!.sub });

    // The claims parameter asks for email and phone: the consent page says so, and denying releases nothing.
    const second = await startLogin(t, partner, { scope: 'openid', claims: claimsParam }, first.browser);
    expect(second.page.status).toBe(200);
    expect(second.page.html).toContain('<li>See your email address</li>');
    expect(second.page.html).toContain('<li>See your phone number</li>');
    const denied = await second.browser.submit(second.page, '/consent', { decision: 'deny' }, t.url);
    expect(Object.fromEntries(new URL(denied.location!).searchParams)).toEqual({
      error: 'access_denied',
      error_description: 'The user declined the request.',
      state: second.state,
      iss: t.issuer,
    });
    // The old access token still shows only what was granted.
    expect(await oidc.fetchUserInfo(partner, tokens.access_token, tokens.claims()!.sub)).toEqual({ sub: tokens.claims()!.sub });

    // Allowed: the claims asked for are released (a phone number the user does not have stays absent).
    const third = await startLogin(t, partner, { scope: 'openid', claims: claimsParam }, first.browser);
    const allowed = await redeem(partner, third, (await third.browser.submit(third.page, '/consent', { decision: 'allow' }, t.url)).location);
    expect(await oidc.fetchUserInfo(partner, allowed.access_token, allowed.claims()!.sub)).toEqual({ sub: allowed.claims()!.sub, email });
  });

  it('answers a bad claims parameter with invalid_request at the RP, never a 500', async () => {
    const cases: Array<[string, string]> = [
      ['{not json', 'could not parse the claims parameter JSON'],
      ['[]', 'claims parameter should be a JSON object'],
      ['{"id_token":5}', 'claims.id_token should be an object'],
      ['{"other":{}}', 'claims parameter should have userinfo or id_token properties'],
      ['{"userinfo":{"email":5}}', 'claims.userinfo members must be null or objects'],
      ['{"id_token":{"acr":{"essential":true,"values":"x"}}}', 'invalid claims.id_token.acr.values type'],
    ];
    for (const [claims, description] of cases) {
      const error = await refusedAtAuthorize({ claims, state: 'bad-claims' });
      expect(error).toEqual({ error: 'invalid_request', error_description: description, state: 'bad-claims', iss: t.issuer });
    }
  });

  it('offers only SMS for acr_values of SMS, refuses a hand-made email form, and signs in with acr sms', async () => {
    const started = await startLogin(t, app, { acr_values: ACR.sms, scope: 'openid phone' });
    expect(started.page.html).toContain('<input id="identifier" name="identifier" type="tel" autocomplete="tel"');
    expect(started.page.html).not.toContain('type="email"');
    expect(started.page.html).not.toContain('/external/corp');
    // The page shows no email field, but a form posted by hand gets no further either.
    const email = nextEmail();
    const refused = await started.browser.submit(started.page, '/email', { identifier: email }, t.url);
    expect([refused.status, alertOf(refused.html)]).toEqual([400, 'This application asks you to sign in another way. Use one of the ways shown on this page.']);
    const mails = await t.sesame.services.db.prisma.outboxMessage.count({ where: { recipient: email } });
    expect(mails).toBe(0);

    const phone = nextPhone();
    const codePage = await started.browser.submit(started.page, '/email', { identifier: phone }, t.url);
    expect(codePage.status).toBe(200);
    const done = await started.browser.submit(codePage, '/code', { code: await smsCodeTo(phone) }, t.url);
    const claims = (await redeem(app, started, done.location)).claims()!;
    expect(claims).toMatchObject({ acr: ACR.sms, amr: ['sms', 'otp'], phone_number: phone });
  });

  it('offers only the external connection for its acr, and refuses email and SMS forms made by hand', async () => {
    const started = await startLogin(t, app, { acr_values: ACR.external });
    expect(started.page.status).toBe(200);
    expect(started.page.html).toContain('Continue with Corp login');
    expect(started.page.html).not.toContain('/email"');
    const page = await started.browser.request(`${t.url}/interaction/${/\/interaction\/([^/"]+)\//.exec(started.page.html)![1]}/email`, {
      form: { csrf: /name="csrf" value="([^"]+)"/.exec(started.page.html)![1]!, identifier: nextPhone() },
    });
    expect([page.status, alertOf(page.html)]).toEqual([400, 'This application asks you to sign in another way. Use one of the ways shown on this page.']);
  });

  it('treats acr_values nobody can meet as voluntary: all methods, and the acr actually used', async () => {
    const started = await startLogin(t, app, { acr_values: 'urn:example:loa:3' });
    expect(started.page.html).toContain('autocomplete="username"');
    expect(started.page.html).toContain('Continue with Corp login');
    const claims = (await redeem(app, started, (await signInWithEmail(t, started, nextEmail())).result.location)).claims()!;
    expect(claims).toMatchObject({ acr: ACR.email, amr: ['email', 'otp'] });
  });

  it('reads a voluntary acr claim with values like acr_values', async () => {
    const started = await startLogin(t, app, { claims: JSON.stringify({ id_token: { acr: { values: [ACR.external] } } }) });
    expect(started.page.html).toContain('Continue with Corp login');
    expect(started.page.html).not.toContain('/email"');
  });

  it('puts auth_time in the ID token when max_age asks for it', async () => {
    const started = await startLogin(t, app, { max_age: '3600' });
    const { result } = await signInWithEmail(t, started, nextEmail());
    expect(result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const tokens = await exchangeCode(app, started, result.location, { maxAge: 3600 });
    expect(Math.abs(Number(tokens.claims()!.auth_time) - Date.now() / 1000)).toBeLessThan(120);
  });

  it('answers an essential acr nobody can meet with unmet_authentication_requirements', async () => {
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:loa:3'] } } });
    expect(await refusedAtAuthorize({ claims, state: 'unmet' })).toEqual({
      error: 'unmet_authentication_requirements',
      error_description: 'none of the requested acr values can be met',
      state: 'unmet',
      iss: t.issuer,
    });
  });

  it('asks a signed-in user to sign in again only when an essential acr is not met', async () => {
    const first = await startLogin(t, app);
    await redeem(app, first, (await signInWithEmail(t, first, nextEmail())).result.location);
    // acr_values is voluntary: the session's email sign-in answers at once, and says so.
    const voluntary = await startLogin(t, app, { acr_values: ACR.sms }, first.browser);
    expect((await redeem(app, voluntary, voluntary.page.location)).claims()).toMatchObject({ acr: ACR.email });
    // Essential: back to the sign-in page, with SMS only.
    const essential = await startLogin(t, app, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.sms] } } }) }, first.browser);
    expect(essential.page.status).toBe(200);
    expect(essential.page.html).toContain('type="tel" autocomplete="tel"');
    expect(essential.page.html).not.toContain('Continue with Corp login');
  });

  it('gives a magic link acr email and amr email', async () => {
    const email = nextEmail();
    const started = await startLogin(t, app);
    await started.browser.submit(started.page, '/email', { email }, t.url);
    const link = linkFrom(await t.mail.next(email), '/login/link');
    const done = await started.browser.submit(await started.browser.request(link), '/login/link', {}, t.url);
    expect((await redeem(app, started, done.location)).claims()).toMatchObject({ acr: ACR.email, amr: ['email'], email });
  });

  it('gives the Auth0 OTP grant the acr and amr of its channel', async () => {
    const native = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret), { execute: [oidc.allowInsecureRequests] });
    const start = (body: Record<string, unknown>) =>
      fetch(`${t.url}/passwordless/start`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'native', client_secret: NATIVE.client_secret, send: 'code', ...body }),
      });
    const email = nextEmail();
    expect((await start({ connection: 'email', email })).status).toBe(200);
    const byEmail = await oidc.genericGrantRequest(native, OTP, { username: email, otp: codeFrom(await t.mail.next(email)), realm: 'email', scope: 'openid offline_access' });
    expect(decodeJwt(byEmail.id_token!)).toMatchObject({ acr: ACR.email, amr: ['email', 'otp'] });
    expect(decodeJwt((await oidc.refreshTokenGrant(native, byEmail.refresh_token!)).id_token!)).toMatchObject({ acr: ACR.email, amr: ['email', 'otp'] });

    const phone = nextPhone();
    expect((await start({ connection: 'sms', phone_number: phone })).status).toBe(200);
    const bySms = await oidc.genericGrantRequest(native, OTP, { username: phone, otp: await smsCodeTo(phone), realm: 'sms', scope: 'openid phone' });
    expect(decodeJwt(bySms.id_token!)).toMatchObject({ acr: ACR.sms, amr: ['sms', 'otp'], phone_number: phone });
  });

  it('gives an external connection acr external and amr ext', async () => {
    const corp = await createServiceClient(t.sesame.services.db, CORP);
    const s = { t, config: app };
    const h = await handOff(s, 'corp');
    const claims = await finishAtRp(s, h, await signedUrl(corp.accessKey, h, `ext-${engine}`));
    expect(claims).toMatchObject({ acr: ACR.external, amr: ['ext'] });
  });

  it('keeps acr and amr out of userinfo even when the claims parameter asks for them there', async () => {
    const email = nextEmail();
    const started = await startLogin(t, app, { claims: JSON.stringify({ userinfo: { acr: null, amr: null, email: null } }) });
    const tokens = await redeem(app, started, (await signInWithEmail(t, started, email)).result.location);
    expect(await oidc.fetchUserInfo(app, tokens.access_token, tokens.claims()!.sub)).toEqual({ sub: tokens.claims()!.sub, email, email_verified: true });
  });

  it('shows the sign-in page, not a server error, for an odd acr_values string', async () => {
    const page = await new FormClient().follow(
      `${t.url}/authorize?${new URLSearchParams({ client_id: 'app', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', acr_values: ' \u0000<x> ', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`,
      t.url,
    );
    expect(page.status).toBe(200);
    expect(page.html).toContain('autocomplete="username"');
  });
});
