// The risk decision of an API sign-in (the OTP grant, the passkey grant), after its first method
// verified and before the MFA policy (passwordless/sign-in-risk.ts decides; the client's
// `risk_action`, default `signIn`). ALLOW goes on (an `adaptive` MFA policy then lets it through).
// CHALLENGE is met by the method just used when it is one of the rule's, else answered with Auth0's
// `mfa_required` listing only the rule's methods, its mfa_token bound to the decision: the MFA API
// and grants then take only those methods, and the second factor marks the challenge met (once).
// BLOCK answers 403 access_denied. REVIEW too, saying the sign-in is held and to try again once it
// is approved: an API call cannot wait, so a retry by the same user, for the same client and
// action, from the same address answers the held decision again (no new decision, no second
// notice); once approved (CLI, management API, updateAction), the next such retry within
// actions.reviewTimeout of the approval goes on, exactly one; denied or expired: access_denied.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { FactorType } from '../../config/mfa.js';
import type { Logger } from '../../log.js';
import type { MfaDeps } from '../../passwordless/mfa/keys.js';
import { enrolmentTypes, type MfaNeed } from '../../passwordless/mfa/policy.js';
import { allowsFactor, challengeNeed, decideGrantSignIn, meetChallenge, passingMethod, verdictOf } from '../../passwordless/sign-in-risk.js';
import { settleReview } from '../../passwordless/action-results.js';
import type { VerificationMethod } from '../../config/actions.js';
import { riskAction } from '../client-metadata.js';
import type { AccountSignIn } from './issue.js';
import { writeMfaRequired } from './mfa-required.js';

class RiskDenied extends errors.OIDCProviderError {
  override error_description: string;
  constructor(description: string) {
    super(403, 'access_denied');
    this.error_description = description;
  }
}

export const HELD_FOR_REVIEW = 'The sign-in is held for review: try again once it is approved.';
const NOT_ALLOWED = 'The sign-in was not allowed.';
const NEEDS_PASSKEY = 'This sign-in needs a passkey: sign in with the passkey grant.';

/**
 * What the MFA API can ask for under a CHALLENGE of `methods`. It has no passkey challenge: a user
 * whose allowed factors are passkeys only enrols another allowed type; null when none is left.
 */
function apiNeed(need: Exclude<MfaNeed, { kind: 'none' }>, enrolable: Exclude<FactorType, 'recovery-code'>[]): Exclude<MfaNeed, { kind: 'none' }> | null {
  if (need.kind === 'challenge' && need.factors.some((f) => f.type !== 'passkey')) return need;
  const types = (need.kind === 'enroll' ? need.types : enrolable).filter((t) => t !== 'passkey');
  return types.length ? { kind: 'enroll', types } : null;
}

/**
 * Decides `signIn` for the client of this token request: 'answered' when the response is written
 * (mfa_required), `{adaptive}` to go on to the MFA policy; throws access_denied for BLOCK and REVIEW.
 */
export async function riskOfGrant(
  ctx: KoaContextWithOIDC,
  deps: Pick<MfaDeps, 'config' | 'db'> & { log: Logger; wakeWorker?(): void },
  signIn: AccountSignIn,
  ip: string,
): Promise<'answered' | { adaptive?: 'allow' }> {
  const client = ctx.oidc.client!;
  const q = { clientId: client.clientId, actionCode: riskAction(client.metadata()), userId: signIn.accountId, amr: signIn.amr, ip, userAgent: ctx.get('user-agent').slice(0, 300) };
  const decided = await decideGrantSignIn(deps, q);
  if (!decided) return {};
  if (decided.approved) return { adaptive: 'allow' };
  const { row } = decided;
  const verdict = verdictOf(row, deps.config.actions.reviewTimeout);
  switch (verdict.kind) {
    case 'allow':
      return { adaptive: 'allow' };
    case 'review':
      throw new RiskDenied(HELD_FOR_REVIEW);
    case 'review-expired':
      await settleReview(deps.db, row, false, 'timeout');
      throw new RiskDenied(NOT_ALLOWED);
    case 'deny':
      throw new RiskDenied(NOT_ALLOWED);
    case 'challenge': {
      const method = passingMethod(signIn.amr, verdict.methods);
      if (method) {
        await meetChallenge(deps.db, row, method);
        return { adaptive: 'allow' };
      }
      const methods: readonly VerificationMethod[] = verdict.methods;
      const enrolable = enrolmentTypes(deps.config, signIn.amr).filter((t) => allowsFactor(methods, t));
      const need = apiNeed(await challengeNeed(deps.config, deps.db, signIn.accountId, signIn.amr, methods), enrolable);
      if (!need) throw new RiskDenied(methods.includes('PASSKEY') ? NEEDS_PASSKEY : NOT_ALLOWED);
      await writeMfaRequired(ctx, deps, { ...signIn, riskDecisionId: row.id }, need);
      return 'answered';
    }
  }
}
