// Sesame's own pages that sign users in as first-party OIDC clients of Sesame itself: the account
// page (/account) and the admin console (/admin). Each is an internal client (never in the operator's
// list, never shown for consent) using the authorization code flow with PKCE. The code is redeemed
// here, in-process, through oidc-provider's own AuthorizationCode model (no HTTP call to ourselves,
// which a proxy in front of the issuer may not allow): a page needs who signed in, when (auth_time,
// for max_age), how (amr) and in which session, not tokens.
import { createHash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { ClientMetadata } from 'oidc-provider';

/** One internal client: its reserved id (an operator's client with it would be shadowed) and its callback. */
export interface InternalClient {
  id: string;
  name: string;
  callbackPath: string;
}

export const ACCOUNT_CLIENT: InternalClient = { id: 'sesame-account-page', name: 'Account', callbackPath: '/account/callback' };
export const ADMIN_CLIENT: InternalClient = { id: 'sesame-admin-console', name: 'Admin console', callbackPath: '/admin/callback' };
export const ACCOUNT_CLIENT_ID = ACCOUNT_CLIENT.id;

export function internalRedirectUri(issuer: string, client: InternalClient): string {
  return new URL(client.callbackPath, issuer).toString();
}

/** The internal clients' metadata, added to oidc-provider's static clients next to the config's. */
export function internalClientsMetadata(issuer: string): ClientMetadata[] {
  return [ACCOUNT_CLIENT, ADMIN_CLIENT].map((client) => ({
    client_id: client.id,
    client_name: client.name,
    first_party: true,
    // The account page itself adds passkeys: no offer on the way in (nor on the console's).
    offer_passkeys: false,
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [internalRedirectUri(issuer, client)],
  }));
}

export interface InternalSignIn {
  accountId: string;
  /** When the user last proved who they are (seconds since the epoch). */
  authTime: number;
  /** oidc-provider's session uid: the page's session lives only as long as it. */
  sessionUid: string;
  amr: string[];
}

/** S256 of a PKCE verifier. */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * Redeems a code issued to `client`: once, unexpired, for its redirect URI, with the PKCE verifier
 * of the request that asked for it. Null for anything else (the caller starts over).
 */
export async function redeemInternalCode(provider: Provider, client: InternalClient, code: string, verifier: string, issuer: string): Promise<InternalSignIn | null> {
  if (!/^[\w-]{10,200}$/.test(code)) return null;
  const found = await provider.AuthorizationCode.find(code);
  if (!found || !found.isValid || found.clientId !== client.id || found.redirectUri !== internalRedirectUri(issuer, client)) return null;
  if (found.codeChallengeMethod !== 'S256' || found.codeChallenge !== pkceChallenge(verifier)) return null;
  // Single use: a second redemption loses the conditional consume (oidc/single-use.ts) and throws.
  const consumed = await found.consume().then(
    () => true,
    () => false,
  );
  if (!consumed || !found.accountId || !found.sessionUid || typeof found.authTime !== 'number') return null;
  return { accountId: found.accountId, authTime: found.authTime, sessionUid: found.sessionUid, amr: found.amr ?? [] };
}
