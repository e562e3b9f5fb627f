// The one seam into oidc-provider's internals: what issuing tokens exactly like the built-in grants
// needs (their bound helpers, issueTokens, a token request's context). oidc-provider is pinned to an
// exact version in package.json, and test/oidc/internals.test.ts checks these imports still
// resolve, so an upgrade touches one file.
import { ServerResponse, type IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
// @ts-expect-error internal module without type declarations
import { issueTokens as internalIssueTokens } from 'oidc-provider/lib/helpers/grant_common.js';
// @ts-expect-error internal module without type declarations
import providerContext from 'oidc-provider/lib/helpers/als.js';
// @ts-expect-error internal module without type declarations
import providerState from 'oidc-provider/lib/helpers/weak_cache.js';

type Helper = (provider: Provider, ...args: unknown[]) => unknown;
type BoundHelpers = Record<string, (...args: unknown[]) => unknown>;

// Bound once per provider, as oidc-provider binds them once for its own grants (initialize_app.js);
// a WeakMap because the server builds a new provider when keys rotate.
const boundByProvider = new WeakMap<Provider, BoundHelpers>();

function boundGrantHelpers(provider: Provider): BoundHelpers {
  let bound = boundByProvider.get(provider);
  if (!bound) {
    bound = Object.fromEntries(Object.entries(grantHelpers as Record<string, Helper>).map(([name, fn]) => [name, fn.bind(undefined, provider)]));
    boundByProvider.set(provider, bound);
  }
  return bound;
}

/** Issues access, refresh and ID tokens for `source` (an AuthorizationCode-shaped model) and `grant`; sets `ctx.body`. */
export function issueTokens(ctx: KoaContextWithOIDC, source: unknown, grant: unknown, options: { gty: string; entityLabel: string }): Promise<void> {
  const provider = ctx.oidc.provider as Provider;
  return (internalIssueTokens as (...args: unknown[]) => Promise<void>)(provider, boundGrantHelpers(provider), ctx, source, grant, options);
}

type Client = NonNullable<KoaContextWithOIDC['oidc']['client']>;
type GrantHandler = (ctx: KoaContextWithOIDC) => Promise<void>;

/** The handler oidc-provider runs for `grantType` at its token endpoint (a built-in one or ours). */
export function registeredGrant(provider: Provider, grantType: string): GrantHandler {
  const handler = (providerState as (p: Provider) => { grantTypeHandlers: Map<string, GrantHandler> })(provider).grantTypeHandlers.get(grantType);
  if (!handler) throw new Error(`grant type ${grantType} is not registered`);
  return handler;
}

/**
 * Registers `grantType` again with `wrap` around its current handler, with the parameters and the
 * parameters allowed twice it was registered with (oidc-provider's own, `resource` included).
 */
export function wrapGrant(provider: Provider, grantType: string, wrap: (handler: GrantHandler) => GrantHandler): void {
  const state = (providerState as (p: Provider) => { grantTypeParams: Map<string, Set<string>>; grantTypeDupes: Map<string, Set<string>> })(provider);
  const params = state.grantTypeParams.get(grantType);
  provider.registerGrantType(grantType, wrap(registeredGrant(provider, grantType)), params && [...params], state.grantTypeDupes.get(grantType));
}

/**
 * Runs `fn` in a context of `provider` set up as its token endpoint sets one up for an
 * authenticated `client` with `params` (`grant_type` included), for code that issues tokens without
 * a token request. The context sees the caller's connection but none of its headers (no DPoP proof
 * to check) and has a response of its own: nothing it sets reaches the caller's response. It emits
 * `grant.success` and `grant.error` like the token endpoint, so its refusals are logged alike.
 */
export async function inTokenContext<T>(
  provider: Provider,
  req: IncomingMessage,
  client: Client,
  params: Record<string, string>,
  fn: (ctx: KoaContextWithOIDC) => Promise<T>,
): Promise<T> {
  const bare = Object.create(req, { headers: { value: {} }, rawHeaders: { value: [] } }) as IncomingMessage;
  const ctx = provider.createContext(bare, new ServerResponse(bare)) as unknown as KoaContextWithOIDC;
  const oidc = new provider.OIDCContext(ctx as never);
  Object.defineProperty(ctx, 'oidc', { value: oidc });
  (oidc as { params?: Record<string, unknown> }).params = { ...params };
  oidc.entity('Client', client);
  try {
    if (!client.grantTypeAllowed(params.grant_type!)) throw new errors.InvalidRequest('requested grant type is not allowed for this client');
    // oidc-provider's models find the request's context here (Provider.ctx), as in its own routes.
    const result = await (providerContext as { run(store: unknown, fn: () => Promise<T>): Promise<T> }).run(ctx, () => fn(ctx));
    provider.emit('grant.success', ctx);
    return result;
  } catch (err) {
    provider.emit('grant.error', ctx, err);
    throw err;
  }
}

/** The Koa context of the oidc-provider request in progress (its Provider.ctx), or undefined outside one. */
export function currentRequest(): object | undefined {
  return (providerContext as { getStore(): object | undefined }).getStore();
}

export const internalsLoaded =
  typeof internalIssueTokens === 'function' &&
  Object.keys(grantHelpers).length > 0 &&
  typeof (providerContext as { run?: unknown }).run === 'function' &&
  typeof providerState === 'function';

/**
 * Whether oidc-provider wants a client_secret for `metadata` (secret-based client authentication,
 * HS* signing or symmetric encryption): its own static `Client.needsSecret`, untyped in its types.
 */
export function clientNeedsSecret(provider: Provider, metadata: Record<string, unknown>): boolean {
  return (provider.Client as unknown as { needsSecret(metadata: Record<string, unknown>): boolean }).needsSecret(metadata);
}
