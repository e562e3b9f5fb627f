// The oidc-provider instance: Auth0-style paths, our storage, keys, accounts, resource servers and
// pages. Everything protocol-level is oidc-provider's; this file only configures it.
import Provider, { errors, type Configuration, type JWK, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientConfig } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import type { Keyring } from '../passwordless/keyring.js';
import type { Logger } from '../log.js';
import { singleUseAdapter } from './single-use.js';
import { accountFinder } from './account.js';
import { isMfaAudience, resourceIndicators } from './resources.js';
import { answerMfaOnRefresh, refreshMfaCheck } from './grants/refresh-mfa.js';
import { GRANTS, registerGrants } from './grants/register.js';
import { sesameClientMetadata, webOrigins } from './client-metadata.js';
import { userfrontTokenClaims } from './userfront-tenants.js';
import { ProviderStorageUnavailable } from './storage-errors.js';
import { trustProxies } from '../passwordless/requester-network.js';
import type { CodeCheckDeps } from '../passwordless/one-time-codes.js';
import { ACR_VALUES } from './acr.js';
import { clientFeatureProblem, grantTypeEnabled } from '../config/features.js';
import { internalClientsMetadata } from './first-party-clients.js';
import { loadGrantConsentingFirstParty } from './first-party-grant.js';
import { wrapGrant } from './internals.js';

export const ROUTES = {
  authorization: '/authorize',
  token: '/oauth/token',
  userinfo: '/userinfo',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  end_session: '/oidc/logout',
  jwks: '/.well-known/jwks.json',
  pushed_authorization_request: '/oauth/par',
} as const;

/** oidc-provider's own pages (error, logout confirmation, logged out): http/provider-pages.ts renders them. */
export interface ProviderPages {
  renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, err?: Error): Promise<void>;
  logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void>;
  postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void>;
}

/** config, db and keyring (CodeCheckDeps) are also what the custom grants check codes and tickets with. */
export interface ProviderDeps extends CodeCheckDeps {
  log: Logger;
  /** The MFA keys (second factors at rest), for the MFA grants. */
  mfaKeyring: Keyring;
  pages: ProviderPages;
  jwks: JWK[];
  cookieKeys: string[];
}

/** Config-file clients as oidc-provider metadata (Sesame keys included; they are extra metadata). */
function clientMetadata(clients: readonly ClientConfig[]) {
  return clients.map((c) => {
    const metadata: Record<string, unknown> = { ...c };
    if (!c.client_secret && metadata.token_endpoint_auth_method === undefined) metadata.token_endpoint_auth_method = 'none';
    return metadata as Configuration['clients'] extends (infer T)[] | undefined ? T : never;
  });
}

// Claims per scope. acr and amr ride with openid so every ID token says how the user signed in
// (oidc-provider adds them only when asked for otherwise); userinfo never has them (not account
// claims). oidc-provider merges its own defaults (auth_time, sid, iss) into this.
const CLAIMS = {
  openid: ['sub', 'acr', 'amr'],
  email: ['email', 'email_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  profile: ['name'],
};

export function createProvider(deps: ProviderDeps): Provider {
  const adapter = singleUseAdapter(deps.db, (model, grantId) => deps.log.warn({ event: 'grant.reuse_race', model, grantId }, 'parallel redemption refused; grant revoked'));
  const provider = new Provider(deps.config.issuer, providerConfiguration(deps, adapter));
  // Mounted, the provider runs on our app's context (ctx.ip comes from there); set alike anyway.
  trustProxies(provider, deps.config.proxyHops);
  // Only the grants of enabled features (see config/features.ts): discovery lists what is registered.
  registerGrants(
    provider,
    deps,
    GRANTS.filter((grant) => grant.grantTypes.every((type) => grantTypeEnabled(deps.config, type)) && (grant.usable?.(deps.config) ?? true)),
  );
  answerMfaOnRefresh(provider, deps, adapter.holdingConsume);
  // A code's consume written with the tokens it brings, as a refresh's: one statement on PostgreSQL.
  wrapGrant(provider, 'authorization_code', adapter.holdingConsume);
  logProviderErrors(provider, deps.log);
  return provider;
}

function providerConfiguration(deps: ProviderDeps, adapter: Configuration['adapter']): Configuration {
  const { config, db, pages } = deps;
  return {
    adapter,
    // The account page's and the admin console's own clients (oidc/first-party-clients.ts) beside the operator's.
    clients: [...clientMetadata(config.clients), ...internalClientsMetadata(config.issuer)],
    findAccount: accountFinder(db),
    claims: CLAIMS,
    acrValues: ACR_VALUES,
    scopes: ['openid', 'offline_access', 'email', 'phone', 'profile', ...config.apis.flatMap((api) => api.scopes)],
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    jwks: { keys: deps.jwks },
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'], requestObjectSigningAlgValues: ['RS256', 'ES256'] },
    features: providerFeatures(config, pages),
    // audience: Auth0's name for resource. ticket_ref: which request a confirmed email link started
    // (the ticket itself is in a cookie, see passwordless/login-tickets.ts).
    // connection: an external connection to hand the sign-in to (Auth0's parameter).
    extraParams: ['audience', 'ticket_ref', 'connection'],
    // code for everyone; id_token and code id_token (front-channel ID token, as Auth0 offers for
    // express-openid-connect's default) only for confidential clients, see client-metadata.ts.
    // No response type returns an access token in the front channel.
    responseTypes: ['code', 'id_token', 'code id_token'],
    // Like Auth0, put the claims of the granted scopes (email, profile) in the ID token too.
    conformIdTokenClaims: false,
    extraTokenClaims: userfrontTokenClaims(config.issuer),
    extraClientMetadata: clientMetadataRules(config),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // First-party clients are granted what they ask for without a consent interaction.
    loadExistingGrant: loadGrantConsentingFirstParty,
    // Like Keycloak, a client allowed the refresh_token grant gets a refresh token from the code
    // flow. Without offline_access it dies with the sign-in session; with it, it outlives it.
    // Never for the MFA API audience: its tokens come from a second factor only (oidc/resources.ts).
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && !isMfaAudience(config.issuer, code.resource);
    },
    // Always rotated; refused with mfa_required when the MFA policy now asks for a second factor.
    rotateRefreshToken: refreshMfaCheck(deps),
    routes: ROUTES,
    ttl: lifetimes(config),
    renderError: pages.renderError,
    // Browsers may call the token endpoint from the origins a client registered (Auth0's web origins).
    clientBasedCORS: (_ctx, origin, client) => webOrigins(client.metadata()).includes(origin),
  };
}

/** oidc-provider's own features (its `features`, not Sesame's switches of config/features.ts). */
function providerFeatures(config: LoadedConfig, pages: ProviderPages): Configuration['features'] {
  return {
    devInteractions: { enabled: false },
    // Claims per destination (id_token / userinfo); only claims the grant covers are released.
    claimsParameter: { enabled: true },
    // A client may introspect and revoke only the tokens issued to it.
    introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    revocation: {
      enabled: true,
      async allowedPolicy(_ctx, client, token) {
        if (token.clientId === client.clientId) return true;
        throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
      },
    },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource: pages.logoutSource, postLogoutSuccessSource: pages.postLogoutSuccessSource },
    resourceIndicators: resourceIndicators(config.apis, config.issuer),
  };
}

function lifetimes(config: LoadedConfig): Configuration['ttl'] {
  // A token for an API lives as long as that API says (apis[].accessTokenTtl, management 10 min).
  const accessTokenTtl = (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) => token.resourceServer?.accessTokenTTL ?? config.tokens.accessToken;
  return {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 60,
    ClientCredentials: accessTokenTtl,
    IdToken: config.tokens.idToken,
    Interaction: config.tokens.interaction,
    Session: config.tokens.session,
    Grant: config.tokens.refreshToken,
    RefreshToken: config.tokens.refreshToken,
  };
}

/**
 * Sesame's client metadata rules, plus the features: a client that needs a disabled feature is
 * refused wherever it comes from (database, `sesame clients add`, /api/v1/clients), naming it.
 */
function clientMetadataRules(config: LoadedConfig): NonNullable<Configuration['extraClientMetadata']> {
  return {
    properties: sesameClientMetadata.properties,
    validator(ctx, key, value, metadata) {
      // Once per client, and before oidc-provider's own "grant_types can only contain" check.
      if (key === 'first_party') {
        const problem = clientFeatureProblem(config, metadata);
        if (problem) throw new errors.InvalidClientMetadata(problem.message);
      }
      sesameClientMetadata.validator!(ctx, key, value, metadata);
    },
  };
}

/** oidc-provider reports what went wrong as events; log them with the request id, never the token. */
function logProviderErrors(provider: Provider, log: Logger): void {
  const report = (event: string, level: 'warn' | 'error') => (ctx: KoaContextWithOIDC | undefined, err: Error) => {
    const requestId = ctx?.state?.requestId;
    if (err instanceof ProviderStorageUnavailable) log.error({ event, reason: err.reason, requestId }, 'storage unavailable');
    else log[level]({ event, error: err.name, reason: err.message, requestId }, 'oidc error');
  };
  provider.on('server_error', report('server_error', 'error'));
  for (const event of ['authorization.error', 'grant.error', 'end_session.error', 'introspection.error', 'revocation.error', 'userinfo.error'] as const) {
    provider.on(event as 'grant.error', report(event, 'warn'));
  }
}
