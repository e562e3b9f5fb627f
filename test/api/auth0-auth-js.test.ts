// @auth0/auth0-auth-js (Auth0's current Node SDK) against Sesame over real HTTPS with an
// Auth0-style issuer `https://localhost:<port>/`, unmodified: only `domain` changes. It runs
// openid-client discovery first and checks id_tokens with it; passwordless/start is its own fetch.
import { AuthClient, PasswordlessStartError, PasswordlessVerifyError } from '@auth0/auth0-auth-js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { OTP, apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;
const BACKEND = apiFixture.clients[2]!;
const API = 'https://api.example';

/** What the SDK surfaces for an error answer: its own error class, the status, and the OAuth body as `cause`. */
function sdkError(type: typeof PasswordlessStartError | typeof PasswordlessVerifyError, statusCode: number, error: string, error_description: string) {
  return expect.objectContaining({ name: type.name, statusCode, cause: expect.objectContaining({ error, error_description }) });
}

describe('@auth0/auth0-auth-js AuthClient', () => {
  let t: TestSesame;
  let domain: string;
  let auth0: AuthClient;
  let n = 0;
  const nextEmail = () => `authjs${++n}@example.com`;

  beforeAll(async () => {
    const port = await freePort();
    domain = `localhost:${port}`;
    t = await startTestSesame('sqlite', { ...apiFixture, port, issuer: `https://${domain}/` }, { tls: true });
    auth0 = new AuthClient({ domain, clientId: NATIVE.client_id, clientSecret: NATIVE.client_secret });
  });
  afterAll(() => t?.stop());

  it('discovers Sesame at https://<domain>', async () => {
    const meta = await auth0.getServerMetadata();
    expect(meta).toMatchObject({ issuer: `https://${domain}/`, token_endpoint: `https://${domain}/oauth/token` });
    expect(meta.grant_types_supported).toContain(OTP);
  });

  it('sends a code (the default) in the x-request-language, exchanges it, then refreshes', async () => {
    const email = nextEmail();
    await auth0.passwordless.sendEmail({ email, language: 'fr' });
    const mail = await t.mail.next(email);
    expect(mail.subject).toMatch(/^\d{6} est votre code de connexion /);
    const event = await t.sesame.services.db.prisma.auditEvent.findFirstOrThrow({ where: { type: 'code.sent', identifier: email } });
    expect(event.clientId).toBe('native');

    const tokens = await auth0.getTokenByPasswordlessEmail({ email, code: codeFrom(mail), scope: 'openid email offline_access', audience: API });
    expect(tokens).toMatchObject({
      accessToken: expect.any(String),
      idToken: expect.any(String),
      refreshToken: expect.any(String),
      expiresAt: expect.any(Number),
      tokenType: 'bearer',
    });
    expect(tokens.expiresAt - Date.now() / 1000).toBeGreaterThan(60);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect(tokens.claims).toMatchObject({ iss: t.issuer, aud: 'native', sub: user.id, email, email_verified: true });
    expect(decodeJwt(tokens.accessToken)).toMatchObject({ iss: t.issuer, aud: API, sub: user.id, client_id: 'native' });

    const refreshed = await auth0.getTokenByRefreshToken({ refreshToken: tokens.refreshToken! });
    expect(refreshed.claims).toMatchObject({ iss: t.issuer, sub: user.id });
    expect(refreshed.refreshToken).toEqual(expect.any(String));
    expect(decodeJwt(refreshed.accessToken).aud).toBe(API);
  });

  it('sends a link when asked, to the registered redirect_uri', async () => {
    const email = nextEmail();
    await auth0.passwordless.sendEmail({ email, send: 'link', authParams: { scope: 'openid', state: 'from-auth-js' } });
    const link = new URL(linkFrom(await t.mail.next(email), '/passwordless/verify_redirect'));
    expect(Object.fromEntries(link.searchParams)).toMatchObject({ client_id: 'native', email, state: 'from-auth-js', redirect_uri: NATIVE.redirect_uris[0] });
  });

  it("surfaces Sesame's errors in Auth0's shapes", async () => {
    const email = nextEmail();
    const wrongSecret = new AuthClient({ domain, clientId: NATIVE.client_id, clientSecret: 'not-the-secret' });
    await expect(wrongSecret.passwordless.sendEmail({ email })).rejects.toEqual(sdkError(PasswordlessStartError, 401, 'invalid_client', 'Client authentication failed.'));
    await expect(wrongSecret.getTokenByPasswordlessEmail({ email, code: '123456' })).rejects.toEqual(
      sdkError(PasswordlessVerifyError, 401, 'invalid_client', 'client authentication failed'),
    );

    const backend = new AuthClient({ domain, clientId: BACKEND.client_id, clientSecret: BACKEND.client_secret });
    const notAllowed = `Grant type '${OTP}' not allowed for the client.`;
    await expect(backend.passwordless.sendEmail({ email })).rejects.toEqual(sdkError(PasswordlessStartError, 403, 'unauthorized_client', notAllowed));
    await expect(backend.getTokenByPasswordlessEmail({ email, code: '123456' })).rejects.toEqual(sdkError(PasswordlessVerifyError, 403, 'unauthorized_client', notAllowed));

    await auth0.passwordless.sendEmail({ email });
    const code = codeFrom(await t.mail.next(email));
    const wrongCode = sdkError(PasswordlessVerifyError, 403, 'invalid_grant', 'Wrong email or verification code.');
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await expect(auth0.getTokenByPasswordlessEmail({ email, code: wrong })).rejects.toEqual(wrongCode);
    await expect(auth0.getTokenByPasswordlessEmail({ email, code, audience: 'https://nope.example' })).rejects.toEqual(
      sdkError(PasswordlessVerifyError, 403, 'access_denied', 'Service not found: https://nope.example'),
    );
    const tokens = await auth0.getTokenByPasswordlessEmail({ email, code, scope: 'openid' });
    expect(tokens.claims?.sub).toEqual(expect.any(String));
    await expect(auth0.getTokenByPasswordlessEmail({ email, code, scope: 'openid' })).rejects.toEqual(wrongCode);
  });
});
