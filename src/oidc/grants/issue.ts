// The one way Sesame issues tokens for an account it signed in itself (its custom grants, and the
// Userfront API in-process): a Grant and an unsaved AuthorizationCode as the source, then
// oidc-provider's own issueTokens, so refresh, introspection and revocation treat them like any other.
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { inTokenContext, issueTokens, registeredGrant } from '../internals.js';
import { acrOf } from '../acr.js';

/** The requested scopes that become the grant's OIDC scopes; the rest count only for `resource`. */
const OIDC_SCOPES = new Set(['openid', 'email', 'phone', 'profile', 'offline_access']);

export interface AccountSignIn {
  accountId: string;
  amr: readonly string[];
  /** What `amr` stands for (oidc/acr.ts) unless given. */
  acr?: string;
  /** Space-separated; repeated scopes count once. */
  scope: string;
  /** One resource indicator (audience), or none for tokens good at userinfo only. */
  resource?: string;
}

/** The grant type the tokens record (`gty`) and what oidc-provider's errors call their source. */
export interface IssuedAs {
  gty: string;
  entityLabel: string;
}

/** The token endpoint's JSON answer. */
export interface TokenResponse {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  expires_in: number;
  token_type: string;
  scope?: string;
}

/** Issues tokens to the request's client for `signIn`: sets `ctx.body` to the token response and returns it. */
export async function issueForAccount(ctx: KoaContextWithOIDC, signIn: AccountSignIn, as: IssuedAs): Promise<TokenResponse> {
  const provider = ctx.oidc.provider as Provider;
  const client = ctx.oidc.client!;
  const requested = [...new Set(signIn.scope.split(' ').filter(Boolean))];
  const grant = new provider.Grant({ accountId: signIn.accountId, clientId: client.clientId });
  grant.addOIDCScope(requested.filter((s) => OIDC_SCOPES.has(s)).join(' '));
  if (signIn.resource) grant.addResourceScope(signIn.resource, requested.join(' '));
  await grant.save();

  // An unsaved authorization code is the "source" the built-in grants issue tokens from.
  const source = new provider.AuthorizationCode({
    accountId: signIn.accountId,
    acr: signIn.acr ?? acrOf(signIn.amr),
    amr: [...signIn.amr],
    authTime: Math.floor(Date.now() / 1000),
    client,
    grantId: grant.jti,
    scope: requested.join(' '),
    resource: signIn.resource,
    expiresWithSession: false,
  } as never);
  ctx.oidc.entity('Grant', grant);
  try {
    await issueTokens(ctx, source, grant, as);
  } catch (err) {
    // Refused at issuance (a blocked account, oidc/account.ts): no grant is left behind without tokens.
    await grant.destroy();
    throw err;
  }
  return ctx.body as TokenResponse;
}

type Client = NonNullable<KoaContextWithOIDC['oidc']['client']>;

/**
 * The same without a token request, for a client Sesame signs in from one of its own APIs: the
 * tokens `as` would issue at the token endpoint, in-process. `req` is the API's request.
 */
export function issueForClient(provider: Provider, req: IncomingMessage, client: Client, signIn: AccountSignIn, as: IssuedAs): Promise<TokenResponse> {
  const params = { grant_type: as.gty, client_id: client.clientId, scope: signIn.scope, ...(signIn.resource ? { resource: signIn.resource } : {}) };
  return inTokenContext(provider, req, client, params, (ctx) => issueForAccount(ctx, signIn, as));
}

/** oidc-provider's own refresh_token grant for `client`, in-process: what its token endpoint answers. */
export function refreshForClient(provider: Provider, req: IncomingMessage, client: Client, refreshToken: string): Promise<TokenResponse> {
  const params = { grant_type: 'refresh_token', client_id: client.clientId, refresh_token: refreshToken };
  return inTokenContext(provider, req, client, params, async (ctx) => {
    await registeredGrant(provider, 'refresh_token')(ctx);
    return ctx.body as TokenResponse;
  });
}
