// Auth0's MFA API driven by the real @auth0/auth0-auth-js against Sesame over HTTPS with an
// Auth0-style issuer, on both engines: mfa_required from the OTP grant (enrol, then challenge), the
// authenticator list, TOTP and email enrolment and verification, recovery codes, MFA API access
// tokens (later enrolments, removal). Attempted: an mfa_token replayed, adding or removing a factor
// of an enrolled user with an mfa_token, an oob_code carried to another mfa_token.
// The other attacks and the refresh grant: mfa-api-attacks.test.ts.
import type { AuthClient } from '@auth0/auth0-auth-js';
import { MfaChallengeError, MfaDeleteAuthenticatorError, MfaEnrollmentError, MfaListAuthenticatorsError, MfaVerifyError } from '@auth0/auth0-auth-js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { smsCode, type FakeTwilio } from '../helpers/fake-twilio.js';
import type { TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { CALLBACK } from './fixture.js';
import { API, MFA_ACR, RECOVERY_CODE, sdkError, startMfaApi, totp, type MfaApi } from './mfa-fixture.js';

describe.each(ENGINES)('Auth0 MFA API on %s', { timeout: 180_000 }, (engine) => {
  let api: MfaApi;
  let t: TestSesame;
  let twilio: FakeTwilio;
  let app: AuthClient;
  let phones = 0;
  /** The user of the first tests: an authenticator app and recovery codes. */
  const alice = { email: '', secret: '', recoveryCodes: [] as string[] };
  const firstFactor = (...args: Parameters<MfaApi['firstFactor']>) => api.firstFactor(...args);
  const nextEmail = () => api.nextEmail();
  const userId = (email: string) => api.userId(email);

  beforeAll(async () => {
    api = await startMfaApi(engine);
    ({ t, twilio, app } = api);
  }, 120_000);
  afterAll(() => api?.stop());

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
    const phone = `+1650253${String(1000 + phones++).slice(-4)}`;
    const email = nextEmail();
    const smsSignIn = () => api.smsFirstFactor(phone);
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
    const bob = await api.enrolledUser();
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
    // The MFA API audience comes from the MFA grants only: not from a sign-in on the hosted pages.
    const authorize = new URL(`${t.url}/authorize`);
    const pkce = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };
    authorize.search = new URLSearchParams({ client_id: 'app', response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', resource: audience, ...pkce }).toString();
    const res = await fetch(authorize, { redirect: 'manual' });
    const location = new URL(res.headers.get('location') ?? '', t.url);
    expect([res.status, location.searchParams.get('error'), location.searchParams.get('error_description')]).toEqual([
      303,
      'invalid_target',
      'the MFA API audience is only issued after a second factor, by the MFA grants',
    ]);
  });
});
