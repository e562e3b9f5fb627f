// A risk CHALLENGE answered through Auth0's MFA API, driven by the real @auth0/auth0-auth-js on both
// engines: the mfa_token names its decision, and the MFA API and grants take only the rule's methods
// (refused before a code is checked or spent), enrolment included; the factor that succeeds marks the
// challenge met, once, even with parallel grants. Attempted: a recovery code or an authenticator
// app where the rule does not allow it, an email factor's code under an app-only rule, an SMS code
// of an enrolment's unbound oob_code at the mfa-oob grant, a passkey-only rule met over the MFA API.
import type { AuthClient } from '@auth0/auth0-auth-js';
import { MfaChallengeError, MfaEnrollmentError, MfaVerifyError } from '@auth0/auth0-auth-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { smsCode } from '../helpers/fake-twilio.js';
import { sdkError, totp, type MfaApi } from './mfa-fixture.js';
import { IP, gatedAt, gatedSmsSignIn, smsUserWithEmailFactor, startRiskApi } from './risk-fixture.js';

const NOT_ALLOWED = 'This sign-in does not accept this authenticator: use a type mfa_required listed.';

describe.each(ENGINES)('risk CHALLENGE through the MFA API on %s', { timeout: 180_000 }, (engine) => {
  let api: MfaApi;
  let phones = 0;
  beforeAll(async () => {
    api = await startRiskApi(engine);
  }, 120_000);
  afterAll(() => api?.stop());

  const db = () => api.t.sesame.services.db.prisma;
  const decisionOf = async (userId: string) => db().actionDecision.findFirstOrThrow({ where: { tenantId: 'gated', userId }, orderBy: { createdAt: 'desc' } });
  const nextPhone = () => `+1650254${String(1000 + phones++).slice(-4)}`;

  /** An enrolled user's email sign-in to `gated` from `ip`, answered mfa_required: the user, the gated client there, the answer. */
  async function challenged(ip: string) {
    const user = await api.enrolledUser();
    const sub = await api.userId(user.email);
    const gated: AuthClient = gatedAt(api, ip);
    const first = await api.firstFactor(user.email, gated);
    return { ...user, sub, gated, first, row: await decisionOf(sub) };
  }

  it('binds the token of an app-only CHALLENGE to its decision: a recovery code is refused unspent, the app meets it once', async () => {
    const { sub, gated, first, row, secret, recoveryCodes } = await challenged(IP.app);
    expect(first.mfa_requirements).toEqual({ challenge: [{ type: 'otp' }] });
    expect([row.state, JSON.parse(row.verificationMethods)]).toEqual(['CHALLENGE_REQUIRED', ['AUTHENTICATOR_APP']]);
    const token = await db().mfaToken.findFirstOrThrow({ where: { userId: sub, clientId: 'gated' } });
    expect(token.riskDecisionId).toBe(row.id);

    await expect(gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'recovery-code', recoveryCode: recoveryCodes[0]! })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', NOT_ALLOWED),
    );
    expect(await db().recoveryCode.count({ where: { userId: sub, usedAt: null } })).toBe(10);

    const tokens = await gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(secret) });
    expect(tokens.claims).toMatchObject({ sub, aud: 'gated', amr: ['email', 'otp', 'mfa'] });
    const met = await db().actionDecision.findUniqueOrThrow({ where: { id: row.id } });
    expect([met.state, met.verificationMethod]).toEqual(['CHALLENGE_SUCCEEDED', 'AUTHENTICATOR_APP']);
    await expect(gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(secret, 1) })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', 'Malformed mfa_token'),
    );
  });

  it('refuses the authenticator app, at /mfa/challenge and the grant, under a recovery-code-only CHALLENGE', async () => {
    const { sub, gated, first, row, secret, recoveryCodes } = await challenged(IP.recovery);
    expect(first.mfa_requirements).toEqual({ challenge: [{ type: 'recovery-code' }] });
    await expect(gated.mfa.challengeAuthenticator({ challengeType: 'otp', mfaToken: first.mfa_token })).rejects.toEqual(
      sdkError(MfaChallengeError, 403, 'invalid_grant', NOT_ALLOWED),
    );
    await expect(gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(secret) })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', NOT_ALLOWED),
    );
    // Refused before the check: the app's code of this step is still good elsewhere (the plain MFA policy of `app`).
    const plain = await api.firstFactor((await db().user.findUniqueOrThrow({ where: { id: sub } })).email!);
    expect((await api.app.mfa.verify({ mfaToken: plain.mfa_token, factorType: 'otp', otp: totp(secret) })).claims).toMatchObject({ sub });

    const tokens = await gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'recovery-code', recoveryCode: recoveryCodes[0]! });
    expect(tokens.claims).toMatchObject({ sub, amr: ['email', 'otp', 'rc', 'mfa'] });
    const met = await db().actionDecision.findUniqueOrThrow({ where: { id: row.id } });
    expect([met.state, met.verificationMethod]).toEqual(['CHALLENGE_SUCCEEDED', 'RECOVERY_CODE']);
  });

  it('meets the challenge once when parallel grants redeem one token', async () => {
    const { gated, first, row, recoveryCodes } = await challenged(IP.appOrRecovery);
    expect(first.mfa_requirements).toEqual({ challenge: [{ type: 'otp' }, { type: 'recovery-code' }] });
    const results = await Promise.allSettled(
      recoveryCodes.slice(0, 4).map((recoveryCode) => gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'recovery-code', recoveryCode })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect(r.reason).toEqual(sdkError(MfaVerifyError, 403, 'invalid_grant', 'Malformed mfa_token'));
    const met = await db().actionDecision.findUniqueOrThrow({ where: { id: row.id } });
    expect([met.state, met.verificationMethod]).toEqual(['CHALLENGE_SUCCEEDED', 'RECOVERY_CODE']);
  });

  it("enrols only a type of the rule's methods with the CHALLENGE's token", async () => {
    const email = api.nextEmail();
    const gated = gatedAt(api, IP.app);
    const first = await api.firstFactor(email, gated);
    expect(first.mfa_requirements).toEqual({ enroll: [{ type: 'otp' }] });
    const sub = await api.userId(email);
    await expect(gated.mfa.enrollAuthenticator({ authenticatorTypes: ['oob'], oobChannels: ['sms'], phoneNumber: nextPhone(), mfaToken: first.mfa_token })).rejects.toEqual(
      sdkError(MfaEnrollmentError, 403, 'invalid_grant', NOT_ALLOWED),
    );
    expect(await db().authenticator.count({ where: { userId: sub } })).toBe(0);

    const enrolment = (await gated.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken: first.mfa_token })) as { secret: string };
    const tokens = await gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(enrolment.secret) });
    expect(tokens.claims).toMatchObject({ sub, amr: ['email', 'otp', 'mfa'] });
    const met = await decisionOf(sub);
    expect([met.state, met.verificationMethod]).toEqual(['CHALLENGE_SUCCEEDED', 'AUTHENTICATOR_APP']);
  });

  it("never lets an email factor's code meet an app-only or a passkey-only CHALLENGE", async () => {
    const phone = nextPhone();
    const sub = await smsUserWithEmailFactor(api, phone, api.nextEmail());
    const tokensBefore = await db().mfaToken.count({ where: { userId: sub, clientId: 'gated' } });

    // Passkey only: the MFA API has no passkey challenge, so no mfa_token at all; the passkey grant is the way.
    expect(await gatedSmsSignIn(api, phone, IP.passkey)).toMatchObject({
      statusCode: 403,
      cause: { error: 'access_denied', error_description: 'This sign-in needs a passkey: sign in with the passkey grant.' },
    });
    expect(await db().mfaToken.count({ where: { userId: sub, clientId: 'gated' } })).toBe(tokensBefore);
    expect((await decisionOf(sub)).state).toBe('CHALLENGE_REQUIRED');

    // App only: the user's email factor is listed but cannot be challenged.
    const refused = await gatedSmsSignIn(api, phone, IP.app);
    expect(refused).toMatchObject({ statusCode: 403, cause: { error: 'mfa_required', mfa_requirements: { enroll: [{ type: 'otp' }] } } });
    const mfaToken = refused.cause.mfa_token as string;
    const gated = gatedAt(api, IP.app);
    expect((await gated.mfa.listAuthenticators({ mfaToken })).map((a) => a.type)).toEqual(['email', 'recovery-code']);
    await expect(gated.mfa.challengeAuthenticator({ challengeType: 'oob', mfaToken })).rejects.toEqual(sdkError(MfaChallengeError, 403, 'invalid_grant', NOT_ALLOWED));
    expect((await decisionOf(sub)).state).toBe('CHALLENGE_REQUIRED');
  });

  it('refuses at the mfa-oob grant an SMS code whose oob_code came from an enrolment, under an app-only CHALLENGE', async () => {
    const { email, secret } = await api.enrolledUser();
    const sub = await api.userId(email);
    // An MFA API access token of `gated` (a plain second factor from an allowed address) enrols a phone: its oob_code binds no mfa_token.
    const plain = await api.firstFactor(email, gatedAt(api, IP.fine), { scope: 'openid enroll', audience: `${api.t.issuer}mfa/` });
    const { accessToken } = await gatedAt(api, IP.fine).mfa.verify({ mfaToken: plain.mfa_token, factorType: 'otp', otp: totp(secret) });
    const phone = nextPhone();
    const enrolment = (await gatedAt(api, IP.fine).mfa.enrollAuthenticator({ authenticatorTypes: ['oob'], oobChannels: ['sms'], phoneNumber: phone, mfaToken: accessToken })) as {
      oobCode: string;
    };
    const bindingCode = smsCode(await api.twilio.next(phone));

    const gated = gatedAt(api, IP.app);
    const first = await api.firstFactor(email, gated);
    expect(first.mfa_requirements).toEqual({ challenge: [{ type: 'otp' }] });
    await expect(gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'oob', oobCode: enrolment.oobCode, bindingCode })).rejects.toEqual(
      sdkError(MfaVerifyError, 403, 'invalid_grant', NOT_ALLOWED),
    );
    // Refused before the code was checked: the phone is still unconfirmed, the challenge still open.
    expect(await db().authenticator.count({ where: { userId: sub, type: 'sms', confirmed: true } })).toBe(0);
    expect((await decisionOf(sub)).state).toBe('CHALLENGE_REQUIRED');
    expect((await gated.mfa.verify({ mfaToken: first.mfa_token, factorType: 'otp', otp: totp(secret, 1) })).claims).toMatchObject({ sub });
  });
});
