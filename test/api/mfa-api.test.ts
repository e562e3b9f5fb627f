// Auth0's MFA API driven by the real @auth0/auth0-auth-js against Sesame over HTTPS with an
// Auth0-style issuer, on both engines: mfa_required from the OTP grant (enrol, then challenge), the
// authenticator list, TOTP and email enrolment and verification, recovery codes, MFA API access
// tokens (later enrolments, removal), mfa_required from the refresh grant. Each attack is attempted:
// an mfa_token replayed, used by another client, expired, spent twice in parallel, adding or removing
// a factor of an enrolled user, an oob_code carried to another mfa_token, guessing TOTP codes from
// one network to lock the user out on another.
import {
  AuthClient,
  MfaChallengeError,
  MfaDeleteAuthenticatorError,
  MfaEnrollmentError,
  MfaListAuthenticatorsError,
  MfaVerifyError,
  TokenByRefreshTokenError,
  isMfaRequiredError,
} from '@auth0/auth0-auth-js';
import { AuthenticationClient } from 'auth0/legacy';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStoredClient, insertClient, replaceClientMetadata } from '../../src/storage/clients.js';
import { ENGINES } from '../helpers/databases.js';
import { startFakeTwilio, smsCode, type FakeTwilio } from '../helpers/fake-twilio.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { CALLBACK, OTP } from './fixture.js';

const MFA_GRANTS = ['http://auth0.com/oauth/grant-type/mfa-otp', 'http://auth0.com/oauth/grant-type/mfa-oob', 'http://auth0.com/oauth/grant-type/mfa-recovery-code'];
const GRANTS = ['authorization_code', 'refresh_token', OTP, ...MFA_GRANTS];
const SECRET = 'mfa-app-secret-mfa-app-secret-mfa-app';
const API = 'https://api.example';
const SCOPE = 'openid email offline_access';
const MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
const RECOVERY_CODE = /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/;
const fixture = {
  clients: [
    { client_id: 'app', client_secret: SECRET, redirect_uris: [CALLBACK], grant_types: GRANTS, mfa_policy: 'always', trust_forwarded_for: true },
    { client_id: 'other', client_secret: `${SECRET}-other`, redirect_uris: [CALLBACK], grant_types: GRANTS, mfa_policy: 'always' },
  ],
  apis: [{ identifier: API, scopes: ['read'] }],
  codes: { resendCooldown: 1, sendsPerHour: 50, freeFailures: 3 },
  rateLimits: { sendsPerIpPerHour: 500 },
  passkeys: { offerEnrolment: false },
};

type MfaRequired = { mfa_token: string; mfa_requirements: unknown };

/** What auth-js surfaces for an error answer: its class, the status, Auth0's body as `cause`. */
function sdkError(type: { name: string }, statusCode: number, error: string, error_description: string) {
  return expect.objectContaining({ name: type.name, statusCode, message: error_description, cause: expect.objectContaining({ error, error_description }) });
}

/** A code of the authenticator app with `secret`, `steps` 30-second steps from now (each step works once). */
const totp = (secret: string, steps = 0) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + steps * 30_000 });

describe.each(ENGINES)('Auth0 MFA API on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  let domain: string;
  let app: AuthClient;
  let other: AuthClient;
  let n = 0;
  const nextEmail = () => `mfa${++n}-${engine}@example.com`;
  /** The user of the first test: an authenticator app and recovery codes. */
  const alice = { email: '', secret: '', recoveryCodes: [] as string[] };

  beforeAll(async () => {
    twilio = await startFakeTwilio();
    const port = await freePort();
    domain = `localhost:${port}`;
    const connections = [
      { id: 'email', type: 'email' },
      { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: twilio.provider(), sendsPerIpPerHour: 100 },
    ];
    t = await startTestSesame(engine, { ...fixture, connections, port, issuer: `https://${domain}/` }, { tls: true });
    app = new AuthClient({ domain, clientId: 'app', clientSecret: SECRET });
    other = new AuthClient({ domain, clientId: 'other', clientSecret: `${SECRET}-other` });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  /** The app's client sending as the end user's network (auth0-forwarded-for, the client being trusted). */
  const fromNetwork = (ip: string) =>
    new AuthClient({
      domain,
      clientId: 'app',
      clientSecret: SECRET,
      customFetch: (url, init) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), 'auth0-forwarded-for': ip } }),
    });

  /** A code sign-in by email whose answer is `mfa_required`: its body. */
  async function firstFactor(email: string, client = app, options: { scope?: string; audience?: string } = {}): Promise<MfaRequired> {
    // The resend cooldown (1 s) separates two sign-ins of one user.
    await waitFor(
      () =>
        client.passwordless.sendEmail({ email }).then(
          () => true,
          () => false,
        ),
      { interval: 500, what: 'a code sent' },
    );
    const code = codeFrom(await t.mail.next(email));
    const err = await client.getTokenByPasswordlessEmail({ email, code, scope: options.scope ?? SCOPE, audience: options.audience ?? API }).then(
      () => new Error('expected mfa_required'),
      (e: unknown) => e,
    );
    expect(isMfaRequiredError(err)).toBe(true);
    expect(err).toMatchObject({ statusCode: 403, cause: { error: 'mfa_required', error_description: 'Multifactor authentication required' } });
    return (err as { cause: MfaRequired }).cause;
  }

  /**
   * A new user with a confirmed authenticator app. TOTP steps are used once and in order (-1, 0, +1
   * around now), so each test that signs in with codes has its own user: confirmed at step -1.
   */
  async function enrolledUser(): Promise<{ email: string; secret: string }> {
    const email = nextEmail();
    const { mfa_token } = await firstFactor(email);
    const { secret } = (await app.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken: mfa_token })) as { secret: string };
    await app.mfa.verify({ mfaToken: mfa_token, factorType: 'otp', otp: totp(secret, -1) });
    return { email, secret };
  }

  async function userId(email: string) {
    return (await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } })).id;
  }

  it('enrols a first authenticator app with an mfa_token (recovery codes once), then challenges it', async () => {
    alice.email = nextEmail();
    const first = await firstFactor(alice.email);
    expect(first.mfa_requirements).toEqual({ enroll: [{ type: 'otp' }, { type: 'phone' }] });
    expect(await app.mfa.listAuthenticators({ mfaToken: first.mfa_token })).toEqual([]);

    const enrolment = await app.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken: first.mfa_token });
    expect(enrolment).toEqual({
      authenticatorType: 'otp',
      secret: expect.stringMatching(/^[A-Z2-7]{32}$/),
      barcodeUri: expect.stringMatching(/^otpauth:\/\/totp\/Sesame:mfa\d+-\w+%40example\.com\?issuer=Sesame&secret=[A-Z2-7]{32}&algorithm=SHA1&digits=6&period=30$/),
      recoveryCodes: expect.arrayContaining([expect.stringMatching(RECOVERY_CODE)]),
      id: undefined,
    });
    alice.secret = (enrolment as { secret: string }).secret;
    alice.recoveryCodes = enrolment.recoveryCodes!;
    expect(alice.recoveryCodes).toHaveLength(10);

    const wrong = String((Number(totp(alice.secret)) + 1) % 1_000_000).padStart(6, '0');
    await expect(app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: wrong })).rejects.toEqual(sdkError(MfaVerifyError, 403, 'invalid_grant', 'Invalid otp_code.'));
    const tokens = await app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(alice.secret) });
    const sub = await userId(alice.email);
    // The scope and audience of the first request, which the SDK did not send again.
    expect(tokens.claims).toMatchObject({ sub, aud: 'app', email: alice.email, amr: ['email', 'otp', 'mfa'], acr: MFA_ACR });
    expect(decodeJwt(tokens.accessToken)).toMatchObject({ aud: API, sub, client_id: 'app' });
    expect(tokens.refreshToken).toEqual(expect.any(String));

    // Spent: neither the grant nor the API takes it again.
    await expect(app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(alice.secret, 1) })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', 'Malformed mfa_token'),
    );
    await expect(app.mfa.listAuthenticators({ mfaToken: first.mfa_token })).rejects.toEqual(
      sdkError(MfaListAuthenticatorsError, 401, 'invalid_token', 'The token is not valid: unknown, spent or expired.'),
    );
    await expect(app.mfa.listAuthenticators({ mfaToken: 'not-a-token' })).rejects.toMatchObject({ name: 'MfaListAuthenticatorsError', statusCode: 401 });

    const again = await firstFactor(alice.email);
    expect(again.mfa_requirements).toEqual({ challenge: [{ type: 'otp' }, { type: 'recovery-code' }] });
    const listed = await app.mfa.listAuthenticators({ mfaToken: again.mfa_token });
    expect(listed).toEqual([
      { id: expect.stringMatching(/^totp\|dev_[\w-]{22}$/), authenticatorType: 'otp', active: true, name: undefined, oobChannels: undefined, type: 'otp' },
      {
        id: expect.stringMatching(/^recovery-code\|dev_[\w-]{22}$/),
        authenticatorType: 'recovery-code',
        active: true,
        name: undefined,
        oobChannels: undefined,
        type: 'recovery-code',
      },
    ]);
    // An mfa_token is the first factor alone: it never adds a factor to an enrolled user.
    const refused = 'An mfa_token enrols only the first authenticator and removes none; use an access token for the MFA API (scope enroll or remove:authenticators).';
    await expect(app.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken: again.mfa_token })).rejects.toEqual(
      sdkError(MfaEnrollmentError, 401, 'invalid_token', refused),
    );
    await expect(app.mfa.enrollAuthenticator({ authenticatorTypes: ['oob'], oobChannels: ['sms'], phoneNumber: '+16502530001', mfaToken: again.mfa_token })).rejects.toEqual(
      sdkError(MfaEnrollmentError, 401, 'invalid_token', refused),
    );
    await expect(app.mfa.deleteAuthenticator({ authenticatorId: listed[0]!.id, mfaToken: again.mfa_token })).rejects.toEqual(
      sdkError(MfaDeleteAuthenticatorError, 401, 'invalid_token', refused),
    );
    expect(await app.mfa.challengeAuthenticator({ challengeType: 'otp', mfaToken: again.mfa_token })).toEqual({ challengeType: 'otp' });
    await expect(app.mfa.challengeAuthenticator({ challengeType: 'oob', mfaToken: again.mfa_token })).rejects.toEqual(
      sdkError(MfaChallengeError, 400, 'unsupported_challenge_type', 'User does not have an authenticator of the requested type.'),
    );
    const second = await app.mfa.verify({ mfaToken: again.mfa_token, factorType: 'otp', otp: totp(alice.secret, 1) });
    expect(second.claims).toMatchObject({ sub, amr: ['email', 'otp', 'mfa'], acr: MFA_ACR });
  });

  it('takes a recovery code once and answers a new one in its place', async () => {
    const sub = await userId(alice.email);
    const { mfa_token } = await firstFactor(alice.email);
    const [used] = alice.recoveryCodes;
    const tokens = await app.mfa.verify({ mfaToken: mfa_token, factorType: 'recovery-code', recoveryCode: used!.toLowerCase() });
    expect(tokens.claims).toMatchObject({ sub, amr: ['email', 'otp', 'rc', 'mfa'], acr: MFA_ACR });
    expect(tokens.recoveryCode).toMatch(RECOVERY_CODE);
    expect(alice.recoveryCodes).not.toContain(tokens.recoveryCode);
    expect(await t.sesame.services.db.prisma.recoveryCode.count({ where: { userId: sub, usedAt: null } })).toBe(10);

    const next = await firstFactor(alice.email);
    await expect(app.mfa.verify({ mfaToken: next.mfa_token, factorType: 'recovery-code', recoveryCode: used! })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', 'Invalid recovery_code.'),
    );
    const withNew = await app.mfa.verify({ mfaToken: next.mfa_token, factorType: 'recovery-code', recoveryCode: tokens.recoveryCode! });
    expect(withNew.claims).toMatchObject({ sub, acr: MFA_ACR });
    alice.recoveryCodes = alice.recoveryCodes.slice(1);
  });

  it('enrols an email factor after an SMS sign-in and challenges it by a binding code, bound to its mfa_token', async () => {
    const phone = `+1650253${String(1000 + n++).slice(-4)}`;
    const email = nextEmail();
    const smsSignIn = async () => {
      await waitFor(
        () =>
          app.passwordless.sendSms({ phoneNumber: phone }).then(
            () => true,
            () => false,
          ),
        { interval: 500, what: 'a text sent' },
      );
      const code = smsCode(await twilio.next(phone));
      const err = await app.getTokenByPasswordlessSms({ phoneNumber: phone, code, scope: 'openid phone' }).then(
        () => new Error('expected mfa_required'),
        (e: unknown) => e,
      );
      expect(isMfaRequiredError(err)).toBe(true);
      return (err as { cause: MfaRequired }).cause;
    };
    const first = await smsSignIn();
    expect(first.mfa_requirements).toEqual({ enroll: [{ type: 'otp' }, { type: 'email' }] });
    const enrolment = await app.mfa.enrollAuthenticator({ authenticatorTypes: ['oob'], oobChannels: ['email'], email, mfaToken: first.mfa_token });
    expect(enrolment).toEqual({
      authenticatorType: 'oob',
      oobChannel: 'email',
      oobCode: expect.any(String),
      bindingMethod: 'prompt',
      id: undefined,
      barcodeUri: undefined,
      recoveryCodes: expect.arrayContaining([expect.stringMatching(RECOVERY_CODE)]),
    });
    const enrolled = await app.mfa.verify({
      mfaToken: first.mfa_token,
      factorType: 'oob',
      oobCode: (enrolment as { oobCode: string }).oobCode,
      bindingCode: codeFrom(await t.mail.next(email)),
    });
    expect(enrolled.claims).toMatchObject({ amr: ['sms', 'otp', 'email', 'mfa'], acr: MFA_ACR });

    const again = await smsSignIn();
    expect(again.mfa_requirements).toEqual({ challenge: [{ type: 'email' }, { type: 'recovery-code' }] });
    const [factor] = await app.mfa.listAuthenticators({ mfaToken: again.mfa_token });
    expect(factor).toEqual({ id: expect.stringMatching(/^email\|dev_/), authenticatorType: 'oob', active: true, name: `m***@example.com`, oobChannels: ['email'], type: 'email' });
    // The address's resend cooldown (1 s) since the enrolment's code: a 429 to wait out, as a user would.
    const challenge = await waitFor(
      () =>
        app.mfa
          .challengeAuthenticator({ challengeType: 'oob', authenticatorId: factor!.id, mfaToken: again.mfa_token })
          .catch((e: { statusCode?: number }) => (e.statusCode === 429 ? undefined : Promise.reject(e as Error))),
      { interval: 500, what: 'a challenge sent' },
    );
    expect(challenge).toEqual({ challengeType: 'oob', oobCode: expect.any(String), bindingMethod: 'prompt' });
    const bindingCode = codeFrom(await t.mail.next(email));

    // The oob_code answers only for the mfa_token that asked for it.
    const third = await smsSignIn();
    await expect(app.mfa.verify({ mfaToken: third.mfa_token, factorType: 'oob', oobCode: challenge.oobCode!, bindingCode })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', 'Invalid oob_code.'),
    );
    const wrong = String((Number(bindingCode) + 1) % 1_000_000).padStart(6, '0');
    await expect(app.mfa.verify({ mfaToken: again.mfa_token, factorType: 'oob', oobCode: challenge.oobCode!, bindingCode: wrong })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', 'Invalid binding_code.'),
    );
    const tokens = await app.mfa.verify({ mfaToken: again.mfa_token, factorType: 'oob', oobCode: challenge.oobCode!, bindingCode });
    expect(tokens.claims).toMatchObject({ amr: ['sms', 'otp', 'email', 'mfa'], acr: MFA_ACR, phone_number: phone });
  });

  it('adds and removes factors with an MFA API access token (from a second factor only), never refreshed', async () => {
    const audience = `${t.issuer}mfa/`;
    const scope = 'openid enroll read:authenticators remove:authenticators';
    const bob = await enrolledUser();
    const first = await firstFactor(bob.email, app, { scope, audience });
    const tokens = await app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(bob.secret) });
    expect(tokens.refreshToken).toBeUndefined();
    expect(tokens.accessToken).toMatch(/^[\w-]{43}$/);
    const accessToken = tokens.accessToken;

    const phone = '+16502539999';
    const sms = await app.mfa.enrollAuthenticator({ authenticatorTypes: ['oob'], oobChannels: ['sms'], phoneNumber: phone, mfaToken: accessToken });
    expect(sms).toEqual({
      authenticatorType: 'oob',
      oobChannel: 'sms',
      oobCode: expect.any(String),
      bindingMethod: 'prompt',
      id: undefined,
      barcodeUri: undefined,
      recoveryCodes: undefined,
    });
    const code = smsCode(await twilio.next(phone));
    // Confirmed by the grant, with any mfa_token of the user (the code sent to the new number is the proof).
    const next = await firstFactor(bob.email);
    const confirmed = await app.mfa.verify({ mfaToken: next.mfa_token, factorType: 'oob', oobCode: (sms as { oobCode: string }).oobCode, bindingCode: code });
    expect(confirmed.claims).toMatchObject({ amr: ['email', 'otp', 'sms', 'mfa'] });
    const listed = await app.mfa.listAuthenticators({ mfaToken: accessToken });
    expect(listed.map((a) => [a.type, a.name])).toEqual([
      ['otp', undefined],
      ['recovery-code', undefined],
      ['phone', '+X XXXX9999'],
    ]);

    const smsId = listed[2]!.id;
    expect(smsId).toContain('|');
    await app.mfa.deleteAuthenticator({ authenticatorId: smsId, mfaToken: accessToken });
    expect((await app.mfa.listAuthenticators({ mfaToken: accessToken })).map((a) => a.type)).toEqual(['otp', 'recovery-code']);
    await expect(app.mfa.deleteAuthenticator({ authenticatorId: smsId, mfaToken: accessToken })).rejects.toEqual(
      sdkError(MfaDeleteAuthenticatorError, 404, 'not_found', 'Authenticator not found.'),
    );
    // Another client's (or any) access token for an API is no MFA API token.
    const apiToken = (await firstFactor(bob.email).then((r) => app.mfa.verify({ mfaToken: r.mfa_token, factorType: 'otp', otp: totp(bob.secret, 1) }))).accessToken;
    await expect(app.mfa.listAuthenticators({ mfaToken: apiToken })).rejects.toMatchObject({ name: 'MfaListAuthenticatorsError', statusCode: 401 });
    // The MFA API audience comes from the MFA grants only.
    const res = await fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'app', client_secret: SECRET, resource: audience }),
    });
    expect(res.status).toBe(400);
  });

  it('refuses an mfa_token of another client, an expired one, and spends one once among parallel grants', async () => {
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

  it('does not let wrong codes from one network delay the user on another', async () => {
    const attacker = fromNetwork('203.0.113.7');
    const user = fromNetwork('198.51.100.7');
    const carol = await enrolledUser();
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
    const err = await later.getTokenByRefreshToken({ refreshToken: refreshed.refreshToken! }).then(
      () => new Error('expected mfa_required'),
      (e: unknown) => e,
    );
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

  it('hands the legacy auth0 SDK the mfa_token in the error body', async () => {
    const legacy = new AuthenticationClient({ domain, clientId: 'app', clientSecret: SECRET });
    const email = nextEmail();
    await legacy.passwordless.sendEmail({ email, send: 'code' });
    const err = await legacy.passwordless.loginWithEmail({ email, code: codeFrom(await t.mail.next(email)), scope: 'openid' }).then(
      () => new Error('expected mfa_required'),
      (e: unknown) => e,
    );
    expect(JSON.parse((err as { body: string }).body)).toEqual({
      error: 'mfa_required',
      error_description: 'Multifactor authentication required',
      mfa_token: expect.any(String),
      mfa_requirements: { enroll: [{ type: 'otp' }, { type: 'phone' }] },
    });
  });
});
