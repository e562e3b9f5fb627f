// Consent: what the client asks for (for the page) and recording the user's approval as a Grant.
import type Provider from 'oidc-provider';
import type { Db } from '../storage/db.js';
import { findUserById } from '../storage/users.js';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

interface MissingGrant {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/** The scope whose line on the page covers a claim asked for on its own (claims parameter). */
const SCOPE_OF_CLAIM: Record<string, string> = {
  email: 'email',
  email_verified: 'email',
  phone_number: 'phone',
  phone_number_verified: 'phone',
  name: 'profile',
};

/**
 * Scopes and APIs to list on the consent page (openid and offline_access are implied). Claims the
 * client asked for one by one are listed under their scope's line, since approving grants them too.
 * `profile` says "once you give one" for an account without a name: the page promises only what exists.
 */
export async function consentView(db: Db, details: Details) {
  const missing = details.prompt.details as MissingGrant;
  const fromClaims = (missing.missingOIDCClaims ?? []).map((claim) => SCOPE_OF_CLAIM[claim] ?? claim);
  const scopes = [...new Set([...(missing.missingOIDCScope ?? []), ...fromClaims])].filter((s) => s !== 'openid' && s !== 'offline_access');
  const user = scopes.includes('profile') && details.session?.accountId ? await findUserById(db, details.session.accountId) : null;
  return {
    scopes: scopes.map((s) => (s === 'profile' && !user?.name ? 'profile_unset' : s)),
    offline: (missing.missingOIDCScope ?? []).includes('offline_access'),
    apis: Object.entries(missing.missingResourceScopes ?? {}).map(([api, scopes]) => ({ api, scopes })),
  };
}

/** Grants everything the pending request is missing; returns the grant id to finish with. */
export async function approveConsent(provider: Provider, details: Details): Promise<string> {
  const { accountId } = details.session ?? {};
  const clientId = String(details.params.client_id);
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId });
  if (!grant) throw new Error('grant of the interaction vanished');
  const missing = details.prompt.details as MissingGrant;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}
