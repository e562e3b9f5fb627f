// The account page signs users in as a first-party OIDC client of Sesame itself: an internal client
// (never in the operator's list, never shown for consent) using the authorization code flow with
// PKCE. The code is redeemed here, in-process, through oidc-provider's own AuthorizationCode model
// (no HTTP call to ourselves, which a proxy in front of the issuer may not allow): the page needs
// who signed in, when (auth_time, for max_age) and in which session, not tokens.
import { createHash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { ClientMetadata } from 'oidc-provider';

/** Reserved: an operator's client with this id would be shadowed by this one. */
export const ACCOUNT_CLIENT_ID = 'sesame-account-page';

export function accountRedirectUri(issuer: string): string {
  return new URL('/account/callback', issuer).toString();
}

/** The internal client's metadata, added to oidc-provider's static clients next to the config's. */
export function accountClientMetadata(issuer: string): ClientMetadata {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: 'Account',
    first_party: true,
    // The account page itself adds passkeys: no offer on the way in.
    offer_passkeys: false,
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [accountRedirectUri(issuer)],
  };
}

export interface AccountSignIn {
  accountId: string;
  /** When the user last proved who they are (seconds since the epoch). */
  authTime: number;
  /** oidc-provider's session uid: the account page's session lives only as long as it. */
  sessionUid: string;
  amr: string[];
}

/** S256 of a PKCE verifier. */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * Redeems a code issued to the internal client: once, unexpired, for this redirect URI, with the
 * PKCE verifier of the request that asked for it. Null for anything else (the caller starts over).
 */
export async function redeemAccountCode(provider: Provider, code: string, verifier: string, issuer: string): Promise<AccountSignIn | null> {
  if (!/^[\w-]{10,200}$/.test(code)) return null;
  const found = await provider.AuthorizationCode.find(code);
  if (!found || !found.isValid || found.clientId !== ACCOUNT_CLIENT_ID || found.redirectUri !== accountRedirectUri(issuer)) return null;
  if (found.codeChallengeMethod !== 'S256' || found.codeChallenge !== pkceChallenge(verifier)) return null;
  // Single use: a second redemption loses the conditional consume (oidc/single-use.ts) and throws.
  const consumed = await found.consume().then(
    () => true,
    () => false,
  );
  if (!consumed || !found.accountId || !found.sessionUid || typeof found.authTime !== 'number') return null;
  return { accountId: found.accountId, authTime: found.authTime, sessionUid: found.sessionUid, amr: found.amr ?? [] };
}
