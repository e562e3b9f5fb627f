// Auth0's `mfa_required` at the token endpoint: when the MFA policy asks for a second factor after
// a grant's first one, the grant answers 403 with an mfa_token (the hand-over to the MFA API,
// remembering the scope and audience the SDKs will not send again) and what the user must do:
// `challenge` with the types they have, or `enroll` with the types they may add. The body is
// written here, not thrown: oidc-provider's errors would drop the extra members (PROTOCOLS-NEXT A.7).
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { FactorType } from '../../config/mfa.js';
import type { MfaDeps } from '../../passwordless/mfa/keys.js';
import { enrolmentTypes, mfaNeed, type MfaNeed } from '../../passwordless/mfa/policy.js';
import { issueMfaToken } from '../../passwordless/mfa/tokens.js';
import { clientMfaPolicy, metadataOf, type Client } from '../client-metadata.js';
import { mfaAudience } from '../resources.js';
import { MFA_ACR } from '../acr.js';
import type { AccountSignIn } from './issue.js';

/** Auth0's authenticator `type` of each factor type (what spa-js filters the authenticator list by). */
export const AUTH0_FACTOR_TYPES: Record<FactorType, string> = { totp: 'otp', sms: 'phone', email: 'email', 'recovery-code': 'recovery-code', passkey: 'webauthn-platform' };

/** `mfa_requirements` for a need: the types to challenge or to enrol, each once, passkeys left out (the API has no passkey challenge; the passkey grant is the way). */
export function mfaRequirements(need: Exclude<MfaNeed, { kind: 'none' }>): { challenge: { type: string }[] } | { enroll: { type: string }[] } {
  const types = need.kind === 'challenge' ? need.factors.map((f) => f.type) : need.types;
  const listed = [...new Set(types.filter((t) => t !== 'passkey').map((t) => AUTH0_FACTOR_TYPES[t]))].map((type) => ({ type }));
  return need.kind === 'challenge' ? { challenge: listed } : { enroll: listed };
}

/**
 * Whether the policy asks `signIn` for a second factor, and which. A request for the MFA API's
 * audience asks for one whatever the policy (its tokens add and remove factors).
 */
export async function mfaNeedOf(deps: Pick<MfaDeps, 'config' | 'db'>, client: Client, signIn: AccountSignIn, acrValues?: unknown, adaptive?: 'allow'): Promise<MfaNeed> {
  const requested = (typeof acrValues === 'string' && acrValues.split(' ').includes(MFA_ACR)) || signIn.resource === mfaAudience(deps.config.issuer);
  return mfaNeed(deps.config, deps.db, {
    userId: signIn.accountId,
    amr: signIn.amr,
    clientPolicy: clientMfaPolicy(metadataOf(client)),
    requested,
    ...(adaptive ? { adaptive } : {}),
  });
}

/**
 * Writes Auth0's 403 `mfa_required` for `need`, with a new mfa_token remembering `signIn`'s scope and
 * audience, and the risk decision whose CHALLENGE it answers when there is one (grants/risk.ts).
 */
export async function writeMfaRequired(
  ctx: KoaContextWithOIDC,
  deps: Pick<MfaDeps, 'config' | 'db'>,
  signIn: AccountSignIn & { riskDecisionId?: string },
  need: Exclude<MfaNeed, { kind: 'none' }>,
): Promise<void> {
  const clientId = ctx.oidc.client!.clientId;
  // The API has no passkey challenge: a user whose only factor is a passkey enrols another here
  // (or signs in with the passkey grant, which needs no second factor).
  if (need.kind === 'challenge' && need.factors.every((f) => f.type === 'passkey')) {
    need = { kind: 'enroll', types: enrolmentTypes(deps.config, signIn.amr).filter((t) => t !== 'passkey') };
  }
  const { riskDecisionId } = signIn;
  const pending = { clientId, userId: signIn.accountId, amr: [...signIn.amr], scope: signIn.scope, resource: signIn.resource, ...(riskDecisionId && { riskDecisionId }) };
  const mfaToken = await issueMfaToken(deps, pending);
  ctx.status = 403;
  ctx.body = { error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: mfaToken, mfa_requirements: mfaRequirements(need) };
}

/**
 * Answers `mfa_required` and returns true when the policy asks `signIn` for a second factor;
 * otherwise returns false and the grant issues its tokens.
 */
export async function answerMfaRequired(ctx: KoaContextWithOIDC, deps: Pick<MfaDeps, 'config' | 'db'>, signIn: AccountSignIn, adaptive?: 'allow'): Promise<boolean> {
  const need = await mfaNeedOf(deps, ctx.oidc.client!, signIn, (ctx.oidc.params as Record<string, unknown>).acr_values, adaptive);
  if (need.kind === 'none') return false;
  await writeMfaRequired(ctx, deps, signIn, need);
  return true;
}
