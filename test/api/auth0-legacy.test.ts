// The legacy Auth0 Node SDK (`auth0/legacy`, AuthenticationClient of auth0@4) against Sesame over
// real HTTPS with an Auth0-style issuer `https://localhost:<port>/`, unmodified: only `domain`
// changes. It checks id_tokens itself (RS256, `iss` with the slash, JWKS over https.get).
import { AuthenticationClient } from 'auth0/legacy';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationParams } from '../helpers/authorization.js';
import { FormClient } from '../helpers/form-client.js';
import { signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { CALLBACK, OTP, apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;
const BACKEND = apiFixture.clients[2]!;
const API = 'https://api.example';
const SCOPE = 'openid email offline_access';

/** What the SDK surfaces for an error answer: AuthApiError with the status and the OAuth body. */
const authError = (statusCode: number, error: string, error_description: string) =>
  expect.objectContaining({ name: 'AuthApiError', statusCode, error, error_description, message: error_description });

describe('Auth0 legacy AuthenticationClient (auth0/legacy)', () => {
  let t: TestSesame;
  let domain: string;
  let auth0: AuthenticationClient;
  let n = 0;
  const nextEmail = () => `legacy${++n}@example.com`;

  beforeAll(async () => {
    const port = await freePort();
    domain = `localhost:${port}`;
    // Short resend cooldown: the same-user check sends twice to one address (hosted pages, then API).
    // No passkey offer: on a localhost issuer it would stop the hosted sign-in (test/hosted/passkey-offer.test.ts).
    const passkeys = { offerEnrolment: false };
    t = await startTestSesame('sqlite', { ...apiFixture, port, issuer: `https://${domain}/`, codes: { resendCooldown: 1 }, passkeys }, { tls: true });
    auth0 = new AuthenticationClient({ domain, clientId: NATIVE.client_id, clientSecret: NATIVE.client_secret });
  });
  afterAll(() => t?.stop());

  async function sendCode(email: string) {
    const sent = await auth0.passwordless.sendEmail({ email, send: 'code' });
    expect(sent.status).toBe(200);
    return codeFrom(await t.mail.next(email));
  }

  it('is served at https://<domain>/ (the issuer the SDK expects)', () => {
    expect(t.issuer).toBe(`https://${domain}/`);
    expect(t.url).toBe(`https://${domain}`);
  });

  it('sends a code, exchanges it with the OTP grant (id_token checked by the SDK), then refreshes', async () => {
    const email = nextEmail();
    const code = await sendCode(email);
    const { data, status } = await auth0.passwordless.loginWithEmail({ email, code, scope: SCOPE, audience: API });
    expect(status).toBe(200);
    expect(data).toEqual({
      access_token: expect.any(String),
      refresh_token: expect.any(String),
      id_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: expect.any(Number),
      // The access token is for the API, and none of the requested scopes are the API's (read,
      // write): oidc-provider reports the access token's scope, here empty. Auth0 would echo SCOPE.
      scope: '',
    });
    const jwks = createRemoteJWKSet(new URL(`https://${domain}/.well-known/jwks.json`));
    const { payload: access } = await jwtVerify(data.access_token, jwks, { issuer: t.issuer, audience: API });
    expect(access).toMatchObject({ client_id: 'native', iss: t.issuer, aud: API });
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect(decodeJwt(data.id_token!)).toMatchObject({ iss: t.issuer, aud: 'native', sub: user.id, email, email_verified: true });
    expect(access.sub).toBe(user.id);

    const refreshed = await auth0.oauth.refreshTokenGrant({ refresh_token: data.refresh_token! });
    expect(refreshed.status).toBe(200);
    expect(refreshed.data).toMatchObject({ access_token: expect.any(String), id_token: expect.any(String), token_type: 'Bearer', expires_in: expect.any(Number) });
    expect(decodeJwt(refreshed.data.id_token!).sub).toBe(user.id);
    expect(decodeJwt(refreshed.data.access_token).aud).toBe(API);
  });

  it('sends a link by default; the link, once confirmed, lands on redirect_uri with code and state', async () => {
    const email = nextEmail();
    const { params: authParams, verifier, state, nonce } = await authorizationParams({ redirect_uri: CALLBACK, response_type: 'code', scope: 'openid email' });
    const sent = await auth0.passwordless.sendEmail({ email, authParams });
    expect(sent.status).toBe(200);
    const mail = await t.mail.next(email);
    const link = linkFrom(mail, '/passwordless/verify_redirect');
    expect(new URL(link).origin).toBe(t.url);

    const browser = new FormClient();
    const page = await browser.request(link);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`Sign in to Native App as ${email}?`);
    const done = await browser.submit(page, '/passwordless/verify_redirect', {}, t.url);
    const callback = new URL(done.location!);
    expect(callback.origin + callback.pathname).toBe(CALLBACK);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    expect(callback.searchParams.get('state')).toBe(state);

    const rp = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret));
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()).toMatchObject({ iss: t.issuer, aud: 'native', email, email_verified: true, nonce });
  });

  it("surfaces Sesame's errors in Auth0's shapes", async () => {
    const email = nextEmail();
    const wrongSecret = new AuthenticationClient({ domain, clientId: NATIVE.client_id, clientSecret: 'not-the-secret' });
    await expect(wrongSecret.passwordless.sendEmail({ email, send: 'code' })).rejects.toEqual(authError(401, 'invalid_client', 'Client authentication failed.'));
    await expect(wrongSecret.passwordless.loginWithEmail({ email, code: '123456' })).rejects.toEqual(authError(401, 'invalid_client', 'client authentication failed'));

    const backend = new AuthenticationClient({ domain, clientId: BACKEND.client_id, clientSecret: BACKEND.client_secret });
    const notAllowed = authError(403, 'unauthorized_client', `Grant type '${OTP}' not allowed for the client.`);
    await expect(backend.passwordless.sendEmail({ email, send: 'code' })).rejects.toEqual(notAllowed);
    await expect(backend.passwordless.loginWithEmail({ email, code: '123456' })).rejects.toEqual(notAllowed);

    const code = await sendCode(email);
    const wrongCode = authError(403, 'invalid_grant', 'Wrong email or verification code.');
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await expect(auth0.passwordless.loginWithEmail({ email, code: wrong })).rejects.toEqual(wrongCode);
    await expect(auth0.passwordless.loginWithEmail({ email, code, audience: 'https://nope.example' })).rejects.toEqual(
      authError(403, 'access_denied', 'Service not found: https://nope.example'),
    );
    // The unknown audience was refused before the code was looked at: the code still works, once.
    expect((await auth0.passwordless.loginWithEmail({ email, code, scope: 'openid' })).status).toBe(200);
    await expect(auth0.passwordless.loginWithEmail({ email, code, scope: 'openid' })).rejects.toEqual(wrongCode);
  });

  it('gives the same sub to a user of the hosted pages and of the SDK', async () => {
    const email = nextEmail();
    const rp = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret));
    const started = await startLogin(t, rp, { scope: 'openid email' });
    const { result } = await signInWithEmail(t, started, email);
    const hosted = await exchangeCode(rp, started, result.location);
    const hostedSub = hosted.claims()!.sub;

    // The hosted sign-in just sent a code to this address: ask again until its resend cooldown
    // (1 s here) is over. Any answer but "too many requests" fails the test at once.
    await waitFor(
      () =>
        auth0.passwordless.sendEmail({ email, send: 'code' }).then(
          (sent) => sent.status === 200,
          (err: { statusCode?: number; error?: string }) => {
            if (err.statusCode === 429 && err.error === 'too_many_requests') return false;
            throw err;
          },
        ),
      { interval: 200, what: 'the resend cooldown to end' },
    );
    const code = codeFrom(await t.mail.next(email));
    const { data } = await auth0.passwordless.loginWithEmail({ email, code, scope: 'openid email' });
    expect(decodeJwt(data.id_token!)).toMatchObject({ sub: hostedSub, email, iss: t.issuer });
    expect(await t.sesame.services.db.prisma.user.count({ where: { email } })).toBe(1);
  });
});
