// Attacks on Auth0's MFA API through the real @auth0/auth0-auth-js, on both engines: an mfa_token of
// another client, an expired one, one spent twice in parallel, wrong TOTP codes from one network
// meant to lock the user out on another; and mfa_required from the refresh grant once the client
// asks for MFA after the refresh token was issued; the legacy auth0 SDK's view of mfa_required.
import { AuthClient, MfaChallengeError, MfaListAuthenticatorsError, MfaVerifyError, TokenByRefreshTokenError, isMfaRequiredError } from '@auth0/auth0-auth-js';
import { AuthenticationClient } from 'auth0/legacy';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStoredClient, insertClient, replaceClientMetadata } from '../../src/storage/clients.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import type { TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { smsCode } from '../helpers/fake-twilio.js';
import { CALLBACK, OTP, WEB_ORIGIN } from './fixture.js';
import { API, GRANTS, MFA_ACR, MFA_GRANTS, SCOPE, SECRET, rejection, sdkError, startMfaApi, totp, type MfaApi, type MfaRequired } from './mfa-fixture.js';

describe.each(ENGINES)('Auth0 MFA API attacks on %s', { timeout: 180_000 }, (engine) => {
  let api: MfaApi;
  let t: TestSesame;
  let app: AuthClient;
  let other: AuthClient;
  let domain: string;
  const firstFactor = (...args: Parameters<MfaApi['firstFactor']>) => api.firstFactor(...args);
  const nextEmail = () => api.nextEmail();
  const userId = (email: string) => api.userId(email);
  const fromNetwork = (ip: string) => api.fromNetwork(ip);

  beforeAll(async () => {
    api = await startMfaApi(engine);
    ({ t, app, other, domain } = api);
  }, 120_000);
  afterAll(() => api?.stop());

  it('refuses an mfa_token of another client, an expired one, and spends one once among parallel grants', async () => {
    const alice = await api.enrolledUser();
    const first = await firstFactor(alice.email);
    await expect(other.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(alice.secret, 1) })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', 'Malformed mfa_token'),
    );
    await expect(other.mfa.challengeAuthenticator({ challengeType: 'otp', mfaToken: first.mfa_token })).rejects.toEqual(
      sdkError(MfaChallengeError, 403, 'invalid_grant', 'Malformed mfa_token'),
    );

    const [a, b] = alice.recoveryCodes.splice(0, 2);
    const results = await Promise.allSettled([
      app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'recovery-code', recoveryCode: a! }),
      app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'recovery-code', recoveryCode: b! }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toEqual({ status: 'rejected', reason: sdkError(MfaVerifyError, 403, 'invalid_grant', 'Malformed mfa_token') });

    const late = await firstFactor(alice.email);
    await t.sesame.services.db.prisma.mfaToken.updateMany({ where: { usedAt: null, userId: await userId(alice.email) }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await expect(app.mfa.verify({ mfaToken: late.mfa_token, factorType: 'otp', otp: totp(alice.secret) })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'expired_token', 'mfa_token is expired'),
    );
    await expect(app.mfa.listAuthenticators({ mfaToken: late.mfa_token })).rejects.toEqual(sdkError(MfaListAuthenticatorsError, 401, 'invalid_token', 'mfa_token is expired'));
  });

  it('serves a public browser client from its web origin: CORS, no secret, JSON grants', async () => {
    const email = nextEmail();
    const post = async (path: string, body: Record<string, unknown>, origin = WEB_ORIGIN, auth?: string) => {
      const headers = { 'content-type': 'application/json', origin, ...(auth && { authorization: `Bearer ${auth}` }) };
      const res = await fetch(`${t.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, origin: res.headers.get('access-control-allow-origin') };
    };
    expect((await post('/passwordless/start', { client_id: 'spa', connection: 'email', email, send: 'code' })).status).toBe(200);
    const otp = codeFrom(await t.mail.next(email));
    // The OTP grant as spa-js sends it (a form); the MFA grants below as JSON, which Auth0's SDKs may send.
    const form = new URLSearchParams({ client_id: 'spa', grant_type: OTP, username: email, otp, realm: 'email', scope: 'openid email' });
    const res = await fetch(`${t.url}/oauth/token`, { method: 'POST', headers: { origin: WEB_ORIGIN }, body: form });
    const first = { status: res.status, body: (await res.json()) as Record<string, unknown>, origin: res.headers.get('access-control-allow-origin') };
    expect(first).toEqual({
      status: 403,
      body: {
        error: 'mfa_required',
        error_description: 'Multifactor authentication required',
        mfa_token: expect.any(String),
        mfa_requirements: { enroll: [{ type: 'otp' }, { type: 'phone' }] },
      },
      origin: WEB_ORIGIN,
    });
    const mfaToken = first.body.mfa_token as string;
    const preflight = await fetch(`${t.url}/mfa/authenticators`, {
      method: 'OPTIONS',
      headers: { origin: WEB_ORIGIN, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin'), preflight.headers.get('access-control-allow-methods')]).toEqual([
      204,
      WEB_ORIGIN,
      'GET, POST, DELETE, OPTIONS',
    ]);
    const list = await fetch(`${t.url}/mfa/authenticators`, { headers: { origin: WEB_ORIGIN, authorization: `Bearer ${mfaToken}` } });
    expect([list.status, list.headers.get('access-control-allow-origin'), await list.json()]).toEqual([200, WEB_ORIGIN, []]);
    expect(await post('/mfa/challenge', { client_id: 'spa', mfa_token: mfaToken, challenge_type: 'otp' })).toEqual({
      status: 403,
      body: { error: 'association_required', error_description: 'User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator.' },
      origin: WEB_ORIGIN,
    });
    expect(await post('/mfa/associate', { authenticator_types: ['otp'] }, 'https://evil.example', mfaToken)).toEqual({
      status: 403,
      body: { error: 'access_denied', error_description: 'Origin https://evil.example is not allowed for this client; add it to its web_origins.' },
      origin: null,
    });
    const enrolment = await post('/mfa/associate', { authenticator_types: ['otp'] }, WEB_ORIGIN, mfaToken);
    const tokens = await post('/oauth/token', { client_id: 'spa', grant_type: MFA_GRANTS[0], mfa_token: mfaToken, otp: totp(enrolment.body.secret as string) });
    expect([tokens.status, tokens.origin, decodeJwt(tokens.body.id_token as string)]).toEqual([200, WEB_ORIGIN, expect.objectContaining({ aud: 'spa', email, acr: MFA_ACR })]);
  });

  it('does not count a code to the phone of an SMS sign-in as its second factor', async () => {
    const phone = '+16502537777';
    const audience = `${t.issuer}mfa/`;
    const first = await api.smsFirstFactor(phone);
    const { secret } = (await app.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken: first.mfa_token })) as { secret: string };
    await app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(secret, -1) });
    const forApi = await api.smsFirstFactor(phone, { scope: 'enroll', audience });
    const { accessToken } = await app.mfa.verify({ mfaToken: forApi.mfa_token, factorType: 'otp', otp: totp(secret) });
    // An access token may enrol an SMS factor, even the sign-in's own number...
    // (after the number's resend cooldown since the sign-in's code: a 429 to wait out)
    const enrol = () => app.mfa.enrollAuthenticator({ authenticatorTypes: ['oob'], oobChannels: ['sms'], phoneNumber: phone, mfaToken: accessToken });
    const sms = (await waitFor(() => enrol().catch((e: { statusCode?: number }) => (e.statusCode === 429 ? undefined : Promise.reject(e as Error))), {
      interval: 500,
      what: 'an enrolment code sent',
    })) as { oobCode: string };
    const bindingCode = smsCode(await api.twilio.next(phone));
    // ...but after an SMS sign-in a code by SMS is the same factor again: refused.
    const next = await api.smsFirstFactor(phone);
    await expect(app.mfa.verify({ mfaToken: next.mfa_token, factorType: 'oob', oobCode: sms.oobCode, bindingCode })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', 'Invalid oob_code.'),
    );
  });

  it('does not let wrong codes from one network delay the user on another', async () => {
    const attacker = fromNetwork('203.0.113.7');
    const user = fromNetwork('198.51.100.7');
    const carol = await api.enrolledUser();
    const stolen = await firstFactor(carol.email);
    const wrong = String((Number(totp(carol.secret)) + 3) % 1_000_000).padStart(6, '0');
    const statuses: number[] = [];
    // Wrong codes until the delay starts (the one after codes.freeFailures), then a right one waits as well.
    while (!statuses.includes(429) && statuses.length < 10) {
      statuses.push(
        await attacker.mfa.verify({ mfaToken: stolen.mfa_token, factorType: 'otp', otp: wrong }).then(
          () => 200,
          (e: { statusCode: number }) => e.statusCode,
        ),
      );
    }
    expect(statuses).toEqual([403, 403, 403, 403, 429]);
    await expect(attacker.mfa.verify({ mfaToken: stolen.mfa_token, factorType: 'otp', otp: totp(carol.secret) })).rejects.toEqual(
      sdkError(MfaVerifyError, 429, 'too_many_attempts', 'Too many failed attempts. Wait before trying again.'),
    );
    const own = await firstFactor(carol.email);
    const tokens = await user.mfa.verify({ mfaToken: own.mfa_token, factorType: 'otp', otp: totp(carol.secret) });
    expect(tokens.claims).toMatchObject({ acr: MFA_ACR });
  });

  it('answers mfa_required at refresh once the client asks for MFA after the refresh token was issued', async () => {
    const db = t.sesame.services.db;
    const metadata = { client_id: 'later', client_secret: `${SECRET}-later`, redirect_uris: [CALLBACK], grant_types: GRANTS, token_endpoint_auth_method: 'client_secret_post' };
    await insertClient(db, 'later', metadata);
    const later = new AuthClient({ domain, clientId: 'later', clientSecret: `${SECRET}-later` });
    const email = nextEmail();
    await later.passwordless.sendEmail({ email });
    const tokens = await later.getTokenByPasswordlessEmail({ email, code: codeFrom(await t.mail.next(email)), scope: SCOPE, audience: API });
    const refreshed = await later.getTokenByRefreshToken({ refreshToken: tokens.refreshToken! });

    const stored = await findStoredClient(db, 'later');
    expect(await replaceClientMetadata(db, 'later', stored!.version, { ...metadata, mfa_policy: 'always' })).toBe(true);
    const err = await rejection(later.getTokenByRefreshToken({ refreshToken: refreshed.refreshToken! }));
    expect(err).toBeInstanceOf(TokenByRefreshTokenError);
    expect(isMfaRequiredError(err)).toBe(true);
    const { mfa_token, mfa_requirements } = (err as { cause: MfaRequired }).cause;
    expect(mfa_requirements).toEqual({ enroll: [{ type: 'otp' }, { type: 'phone' }] });
    const enrolment = await later.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken: mfa_token });
    const fresh = await later.mfa.verify({ mfaToken: mfa_token, factorType: 'otp', otp: totp((enrolment as { secret: string }).secret) });
    expect(fresh.claims).toMatchObject({ email, amr: ['email', 'otp', 'mfa'], acr: MFA_ACR });
    expect(decodeJwt(fresh.accessToken)).toMatchObject({ aud: API });
    // The new refresh token carries the second factor: it refreshes under the policy.
    const after = await later.getTokenByRefreshToken({ refreshToken: fresh.refreshToken! });
    expect(after.claims).toMatchObject({ email, acr: MFA_ACR });
  });

  it('asks a user whose only factor is a passkey to enrol one the API can challenge (it has no passkey challenge)', async () => {
    const email = nextEmail();
    const user = await upsertVerifiedEmailUser(t.sesame.services.db, email);
    const passkey = {
      id: `pk-${engine}`,
      userId: user.id,
      publicKey: 'AAAA',
      counter: 0,
      transports: [],
      deviceType: 'multiDevice',
      backedUp: true,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: null,
    };
    await insertPasskey(t.sesame.services.db, passkey);
    expect((await firstFactor(email)).mfa_requirements).toEqual({ enroll: [{ type: 'otp' }, { type: 'phone' }] });
  });

  it('hands the legacy auth0 SDK the mfa_token in the error body', async () => {
    const legacy = new AuthenticationClient({ domain, clientId: 'app', clientSecret: SECRET });
    const email = nextEmail();
    await legacy.passwordless.sendEmail({ email, send: 'code' });
    const err = await rejection(legacy.passwordless.loginWithEmail({ email, code: codeFrom(await t.mail.next(email)), scope: 'openid' }));
    expect(JSON.parse((err as { body: string }).body)).toEqual({
      error: 'mfa_required',
      error_description: 'Multifactor authentication required',
      mfa_token: expect.any(String),
      mfa_requirements: { enroll: [{ type: 'otp' }, { type: 'phone' }] },
    });
  });
});
