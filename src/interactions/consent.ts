// Consent: what the client asks for (for the page) and recording the user's approval as a Grant.
import type Provider from 'oidc-provider';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

interface MissingGrant {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/** Scopes and APIs to list on the consent page (openid and offline_access are implied). */
export function consentView(details: Details) {
  const missing = details.prompt.details as MissingGrant;
  return {
    scopes: (missing.missingOIDCScope ?? []).filter((s) => s !== 'openid' && s !== 'offline_access'),
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
