// Consent for first-party clients, given where oidc-provider loads the grant (`loadExistingGrant`)
// rather than in a consent interaction of its own: a sign-in then goes from the login page straight
// back to the client, without a second interaction (two requests and about fourteen statements per
// sign-in, issue 18). Grants exactly what oidc-provider's consent prompt would find missing (its
// op_scopes_missing, op_claims_missing and rs_scopes_missing checks); a request that asks for
// consent itself (prompt=consent, a native client) still gets the interaction, which
// interactions/consent.ts answers. A silent request (prompt=none) of a first-party client asking for
// more is granted too, as its users are never asked.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isFirstParty } from './client-metadata.js';

type Grant = InstanceType<KoaContextWithOIDC['oidc']['provider']['Grant']>;

/** Claims every ID token may carry without consent (oidc-provider's consent prompt skips them too). */
const ALWAYS_RELEASED = new Set(['sub', 'sid', 'auth_time', 'acr', 'amr', 'iss']);

/** oidc-provider's default: the grant the interaction just approved, or the session's for this client. */
async function existingGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId);
  return grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
}

/** Adds to `grant` what the request asks for and it lacks; answers whether it added anything. */
function grantMissing(ctx: KoaContextWithOIDC, grant: Grant): boolean {
  const { oidc } = ctx;
  const scopes = new Set(grant.getOIDCScopeEncountered().split(' '));
  const missingScopes = [...oidc.requestParamOIDCScopes].filter((scope) => !scopes.has(scope));
  if (missingScopes.length) grant.addOIDCScope(missingScopes.join(' '));
  const claims = new Set(grant.getOIDCClaimsEncountered());
  const missingClaims = [...oidc.requestParamClaims].filter((claim) => !claims.has(claim) && !ALWAYS_RELEASED.has(claim));
  if (missingClaims.length) grant.addOIDCClaims(missingClaims);
  let added = missingScopes.length > 0 || missingClaims.length > 0;
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
    const granted = new Set(grant.getResourceScopeEncountered(indicator).split(' '));
    const missing = [...oidc.requestParamScopes].filter((scope) => resourceServer.scopes.has(scope) && !granted.has(scope));
    if (missing.length) grant.addResourceScope(indicator, missing.join(' '));
    added ||= missing.length > 0;
  }
  return added;
}

/** `loadExistingGrant` of the provider configuration. */
export async function loadGrantConsentingFirstParty(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const grant = await existingGrant(ctx);
  const client = ctx.oidc.client!;
  const accountId = ctx.oidc.session?.accountId;
  if (!accountId || !isFirstParty(client.metadata()) || ctx.oidc.prompts.has('consent')) return grant;
  const granted = grant ?? new ctx.oidc.provider.Grant({ accountId, clientId: client.clientId });
  if (grantMissing(ctx, granted) || !grant) await granted.save();
  return granted;
}
