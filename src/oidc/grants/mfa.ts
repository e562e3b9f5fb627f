// Auth0's MFA grants: the second factor that redeems an mfa_token (grants/mfa-required.ts hands it
// out after a first factor). `mfa-otp` (an authenticator app's code; the first code of an app being
// enrolled confirms it), `mfa-oob` (the `binding_code` sent for an `oob_code` of POST /mfa/challenge
// or /mfa/associate; confirms an email or SMS factor being enrolled) and `mfa-recovery-code` (answers
// a new `recovery_code` in place of the one used). Each checks the factor through its one door
// (checkFactorCode, checkFactorOob: the per-user failure budget, delays per requester network),
// then spends the token (one of any parallel grants succeeds) and issues for the scope and audience
// the first request asked for, amr gaining the factor and `mfa`. The SDKs resend neither.
// A token of a risk CHALLENGE (grants/risk.ts) takes only a factor of the rule's methods, checked
// before the factor is (nothing is spent on a refused one), and its success marks the challenge met.
// Errors are written into ctx.body in Auth0's words: oidc-provider's would replace them (PROTOCOLS-NEXT A.7).
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { FactorType } from '../../config/mfa.js';
import { SesameError } from '../../errors.js';
import { checkFactorCode, type FactorCheck } from '../../passwordless/mfa/factors.js';
import { checkFactorOob } from '../../passwordless/mfa/oob.js';
import { openOobCode } from '../../passwordless/mfa/oob-codes.js';
import { firstFactorKind } from '../../passwordless/mfa/policy.js';
import { replaceUsedRecoveryCode } from '../../passwordless/mfa/recovery-codes.js';
import { mfaTokenDigest, readMfaToken, spendMfa, type PendingSignIn } from '../../passwordless/mfa/tokens.js';
import { requesterIp } from '../../passwordless/requester-network.js';
import { allowsFactor, meetChallenge, methodOfFactor, openChallenge } from '../../passwordless/sign-in-risk.js';
import { listAuthenticators } from '../../storage/mfa.js';
import { trustsForwardedFor } from '../client-metadata.js';
import { FACTOR_AMR, withSecondFactor } from '../acr.js';
import { issueForAccount } from './issue.js';
import type { CodeCheckDeps } from '../../passwordless/one-time-codes.js';
import type { MfaDeps } from '../../passwordless/mfa/keys.js';

export const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp';
export const MFA_OOB = 'http://auth0.com/oauth/grant-type/mfa-oob';
export const MFA_RECOVERY_CODE = 'http://auth0.com/oauth/grant-type/mfa-recovery-code';
export const grantTypes: readonly string[] = [MFA_OTP, MFA_OOB, MFA_RECOVERY_CODE];
export const parameters = ['mfa_token', 'otp', 'oob_code', 'binding_code', 'recovery_code', 'audience', 'scope'];

type Ctx = KoaContextWithOIDC;
/** What the grants check factors with (the provider's grant deps satisfy it). */
type GrantDeps = CodeCheckDeps & MfaDeps;

function param(ctx: Ctx, name: string): string | undefined {
  const value = (ctx.oidc.params as Record<string, unknown>)[name];
  return typeof value === 'string' && value ? value : undefined;
}

function required(ctx: Ctx, name: string): string {
  const value = param(ctx, name);
  if (!value) throw new SesameError('invalidRequest', { detail: `Missing required parameter: ${name}` });
  return value;
}

/** A refused factor: `delayed` waits (429 with Retry-After), anything else is the grant's wording. */
function refused(check: { reason: string; retryAfter?: number }, wrong: 'mfaInvalidOtp' | 'mfaInvalidBindingCode' | 'mfaInvalidRecoveryCode'): SesameError {
  if (check.reason === 'delayed') return new SesameError('mfaTooManyAttempts', { retryAfter: check.retryAfter ?? 1 });
  return new SesameError(wrong);
}

/** Refuses a factor type the sign-in does not accept (a risk CHALLENGE's methods only). */
type Allow = (type: FactorType) => void;

interface Verified {
  type: FactorType;
  /** The amr the factor adds. */
  factorAmr: readonly string[];
  /** What to add to the token response once the token is spent. */
  extra?: () => Promise<Record<string, string>>;
}

async function otpFactor(ctx: Ctx, deps: GrantDeps, signIn: PendingSignIn, who: { ip: string; clientId: string }, allow: Allow): Promise<Verified> {
  const code = required(ctx, 'otp');
  if (!deps.config.mfa.factors.includes('totp')) throw new SesameError('mfaInvalidOtp');
  allow('totp');
  // An app enrolled through /mfa/associate waits for its first code (enrolTotp keeps at most one).
  const [enrolling] = await listAuthenticators(deps.db, signIn.userId, { type: 'totp', confirmed: false });
  const check: FactorCheck = await checkFactorCode(deps, signIn.userId, { type: 'otp', code, ...(enrolling && { confirming: enrolling.id }) }, who);
  if (!check.ok) throw refused(check, 'mfaInvalidOtp');
  return { type: 'totp', factorAmr: FACTOR_AMR.totp };
}

async function oobFactor(ctx: Ctx, deps: GrantDeps, signIn: PendingSignIn, token: string, who: { ip: string; clientId: string }, allow: Allow): Promise<Verified> {
  const oobCode = required(ctx, 'oob_code');
  const bindingCode = required(ctx, 'binding_code');
  const challenge = openOobCode(deps.mfaKeyring, oobCode);
  // Bound to the user and client, and to the mfa_token that asked for it (an enrolment by an MFA API
  // access token binds none: the code sent to the new address is the proof).
  const bound = challenge && challenge.userId === signIn.userId && challenge.clientId === signIn.clientId;
  if (!bound || (challenge.mfaToken !== null && challenge.mfaToken !== mfaTokenDigest(token))) throw new SesameError('mfaInvalidOobCode');
  // A code to the inbox or phone the first factor already proved is not a second factor (policy.ts);
  // /mfa/challenge never sends one, but an enrolment by access token binds no first factor.
  const type = challenge.authenticatorId.startsWith('sms|') ? 'sms' : 'email';
  if (firstFactorKind(signIn.amr) === type || !deps.config.mfa.factors.includes(type)) throw new SesameError('mfaInvalidOobCode');
  allow(type);
  const check = await checkFactorOob(deps, signIn.userId, challenge.authenticatorId, challenge.challengeId, bindingCode, { ...who, locale: 'en' });
  if (!check.ok) throw refused(check, 'mfaInvalidBindingCode');
  return { type, factorAmr: FACTOR_AMR[type] };
}

async function recoveryFactor(ctx: Ctx, deps: GrantDeps, signIn: PendingSignIn, who: { ip: string; clientId: string }, allow: Allow): Promise<Verified> {
  const code = required(ctx, 'recovery_code');
  if (!deps.config.mfa.factors.includes('recovery-code')) throw new SesameError('mfaInvalidRecoveryCode');
  allow('recovery-code');
  const check = await checkFactorCode(deps, signIn.userId, { type: 'recovery-code', code }, who);
  if (!check.ok) throw refused(check, 'mfaInvalidRecoveryCode');
  return { type: 'recovery-code', factorAmr: FACTOR_AMR['recovery-code'], extra: async () => ({ recovery_code: await replaceUsedRecoveryCode(deps, signIn.userId) }) };
}

function answer(ctx: Ctx, err: SesameError): void {
  ctx.status = err.status;
  for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
  ctx.body = { error: err.code, error_description: err.description ?? err.message };
}

export function handler(deps: GrantDeps) {
  return async function mfaGrant(ctx: Ctx): Promise<void> {
    const client = ctx.oidc.client!;
    try {
      const token = required(ctx, 'mfa_token');
      const read = await readMfaToken(deps, token, client.clientId);
      if (!read.ok) throw new SesameError(read.reason === 'expired' ? 'mfaExpiredToken' : 'mfaMalformedToken');
      const { signIn } = read;
      const who = { ip: requesterIp(ctx, trustsForwardedFor(client.metadata())), clientId: client.clientId };
      const grantType = param(ctx, 'grant_type');
      // A risk CHALLENGE's token: only while the challenge waits (an operator may have put it up for review), only its methods.
      const methods = signIn.riskDecisionId ? await openChallenge(deps.db, signIn.riskDecisionId) : undefined;
      // Closed: refused, unless a parallel grant met it with this very token in between (then spent: that answer).
      if (methods === null) throw new SesameError((await readMfaToken(deps, token, client.clientId)).ok ? 'riskSignInDenied' : 'mfaMalformedToken');
      const allow: Allow = (type) => {
        if (methods && !allowsFactor(methods, type)) throw new SesameError('mfaFactorNotAllowed');
      };
      const verified =
        grantType === MFA_OTP
          ? await otpFactor(ctx, deps, signIn, who, allow)
          : grantType === MFA_OOB
            ? await oobFactor(ctx, deps, signIn, token, who, allow)
            : await recoveryFactor(ctx, deps, signIn, who, allow);
      // A parallel grant with the same token may have won: exactly one issues.
      if (!(await spendMfa(deps, token))) throw new SesameError('mfaMalformedToken');
      if (signIn.riskDecisionId && !(await meetChallenge(deps.db, { id: signIn.riskDecisionId }, methodOfFactor(verified.type)))) throw new SesameError('riskSignInDenied');
      const extra = verified.extra ? await verified.extra() : {};
      const amr = withSecondFactor(signIn.amr, verified.factorAmr);
      const body = await issueForAccount(ctx, { accountId: signIn.userId, amr, scope: signIn.scope, resource: signIn.resource }, { gty: grantType!, entityLabel: 'mfa token' });
      ctx.body = { ...body, ...extra };
    } catch (err) {
      if (!(err instanceof SesameError)) throw err;
      answer(ctx, err);
    }
  };
}
