// The risk decision of an API sign-in (the OTP grant, the passkey grant), after its first method
// verified and before the MFA policy (passwordless/sign-in-risk.ts decides; the client's
// `risk_action`, default `signIn`). ALLOW goes on (an `adaptive` MFA policy then lets it through);
// CHALLENGE is met by the method just used when it is one of the rule's, else answered with Auth0's
// `mfa_required` listing only the rule's methods; BLOCK and REVIEW answer 403 access_denied (REVIEW
// says the sign-in is held: an approved review lets a later sign-in of the user through only as
// its own policy decides, since an API call cannot wait). Each grant is its own decision (no key).
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../../log.js';
import type { MfaDeps } from '../../passwordless/mfa/keys.js';
import { challengeNeed, decideSignIn, meetChallenge, notifyReview, passingMethod, verdictOf } from '../../passwordless/sign-in-risk.js';
import { settleReview } from '../../passwordless/action-results.js';
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

/**
 * Decides `signIn` for the client of this token request: 'answered' when the response is written
 * (mfa_required), `{adaptive}` to go on to the MFA policy; throws access_denied for BLOCK and REVIEW.
 */
export async function riskOfGrant(
  ctx: KoaContextWithOIDC,
  deps: Pick<MfaDeps, 'config' | 'db'> & { log: Logger },
  signIn: AccountSignIn,
  ip: string,
): Promise<'answered' | { adaptive?: 'allow' }> {
  const client = ctx.oidc.client!;
  const q = { clientId: client.clientId, actionCode: riskAction(client.metadata()), userId: signIn.accountId, amr: signIn.amr, ip, userAgent: ctx.get('user-agent').slice(0, 300) };
  const decided = await decideSignIn(deps, q);
  if (!decided) return {};
  const { row } = decided;
  const verdict = verdictOf(row, deps.config.actions.reviewTimeout);
  switch (verdict.kind) {
    case 'allow':
      return { adaptive: 'allow' };
    case 'review':
      await notifyReview(deps, row);
      throw new RiskDenied('The sign-in is held for review.');
    case 'review-expired':
      await settleReview(deps.db, row, false, 'timeout');
      throw new RiskDenied('The sign-in was not allowed.');
    case 'deny':
      throw new RiskDenied('The sign-in was not allowed.');
    case 'challenge': {
      const method = passingMethod(signIn.amr, verdict.methods);
      if (method) {
        await meetChallenge(deps.db, row, method);
        return { adaptive: 'allow' };
      }
      const need = await challengeNeed(deps.config, deps.db, signIn.accountId, signIn.amr, verdict.methods);
      if (need.kind === 'enroll' && !need.types.length) throw new RiskDenied('The sign-in was not allowed.');
      await writeMfaRequired(ctx, deps, signIn, need);
      return 'answered';
    }
  }
}
