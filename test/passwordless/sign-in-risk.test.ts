// The pure parts of Sesame's own sign-ins under risk policies: the first method a sign-in's amr
// names (`signIn.method`), which method of an amr meets a CHALLENGE, what a stored decision means
// for the sign-in it holds (a review past actions.reviewTimeout counts as denied), and the client
// metadata `risk_action` (validated where every client is).
import { describe, expect, it } from 'vitest';
import { errors } from 'oidc-provider';
import { passingMethod, signInMethod, verdictOf } from '../../src/passwordless/sign-in-risk.js';
import { riskAction, sesameClientMetadata } from '../../src/oidc/client-metadata.js';
import type { ActionDecisionRow } from '../../src/storage/action-decisions.js';

describe('sign-in risk', () => {
  it('names the first method of an amr', () => {
    expect([['email'], ['email', 'otp'], ['sms', 'otp'], ['hwk', 'user'], ['swk', 'user'], ['ext']].map(signInMethod)).toEqual([
      'EMAIL_MAGIC_LINK', 'EMAIL_OTP', 'SMS', 'PASSKEY', 'PASSKEY', null,
    ]); // prettier-ignore
  });

  it('meets a challenge with the first method only when it is one of the rule methods, else with the second factor', () => {
    expect(passingMethod(['hwk', 'user'], ['PASSKEY', 'AUTHENTICATOR_APP'])).toBe('PASSKEY');
    expect(passingMethod(['email'], ['PASSKEY', 'AUTHENTICATOR_APP'])).toBeNull();
    // An email code's `otp` is not an authenticator app.
    expect(passingMethod(['email', 'otp'], ['AUTHENTICATOR_APP'])).toBeNull();
    expect(passingMethod(['email', 'otp'], ['EMAIL_OTP'])).toBe('EMAIL_OTP');
    expect(passingMethod(['email', 'otp', 'mfa'], ['PASSKEY', 'AUTHENTICATOR_APP'])).toBe('AUTHENTICATOR_APP');
    expect(passingMethod(['email', 'sms', 'otp', 'mfa'], ['SMS', 'AUTHENTICATOR_APP'])).toBe('SMS');
    expect(passingMethod(['email', 'rc', 'mfa'], ['RECOVERY_CODE', 'AUTHENTICATOR_APP'])).toBe('RECOVERY_CODE');
    expect(passingMethod(['email', 'hwk', 'user', 'mfa'], ['SMS'])).toBeNull();
  });

  it('reads a stored decision as the sign-in sees it', () => {
    const now = new Date('2026-11-30T12:00:00Z');
    const row = (state: string, ageSeconds = 0, methods = '[]') =>
      ({ state, stateUpdatedAt: new Date(now.getTime() - ageSeconds * 1000), verificationMethods: methods }) as ActionDecisionRow;
    expect(['ALLOW', 'CHALLENGE_SUCCEEDED', 'REVIEW_SUCCEEDED', 'BLOCK', 'CHALLENGE_FAILED', 'REVIEW_FAILED'].map((s) => verdictOf(row(s), 3600, now).kind)).toEqual([
      'allow', 'allow', 'allow', 'deny', 'deny', 'deny',
    ]); // prettier-ignore
    expect(verdictOf(row('REVIEW_REQUIRED', 3600), 3600, now)).toEqual({ kind: 'review' });
    expect(verdictOf(row('REVIEW_REQUIRED', 3601), 3600, now)).toEqual({ kind: 'review-expired' });
    expect(verdictOf(row('CHALLENGE_REQUIRED', 0, '["PASSKEY"]'), 3600, now)).toEqual({ kind: 'challenge', methods: ['PASSKEY'] });
  });

  it('takes a client risk_action that is an action code, signIn by default', () => {
    const validate = (value: unknown) => () => sesameClientMetadata.validator!(undefined as never, 'risk_action', value, { client_id: 'x', risk_action: value });
    expect(validate('withdraw-funds:v2')).not.toThrow();
    expect(validate(undefined)).not.toThrow();
    for (const bad of ['', 'a b', 'x'.repeat(65), 42, ['signIn']]) {
      expect(validate(bad)).toThrow(new errors.InvalidClientMetadata('risk_action must be an action code of 1 to 64 letters, digits, _ . : or -'));
    }
    expect([riskAction({}), riskAction({ risk_action: 'login' }), riskAction(undefined)]).toEqual(['signIn', 'login', 'signIn']);
  });
});
