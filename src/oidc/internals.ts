// The one seam into oidc-provider's internals: the helpers a custom grant needs to issue tokens
// exactly like the built-in grants. oidc-provider is pinned to an exact version in package.json,
// and test/oidc/internals.test.ts checks these imports still resolve, so an upgrade touches one file.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
// @ts-expect-error internal module without type declarations
import { issueTokens as internalIssueTokens } from 'oidc-provider/lib/helpers/grant_common.js';

type Helper = (provider: Provider, ...args: unknown[]) => unknown;

/** Grant helpers bound to `provider`, as oidc-provider binds them for its own grants. */
export function boundGrantHelpers(provider: Provider): Record<string, (...args: unknown[]) => unknown> {
  return Object.fromEntries(Object.entries(grantHelpers as Record<string, Helper>).map(([name, fn]) => [name, fn.bind(undefined, provider)]));
}

/** Issues access, refresh and ID tokens for `source` (an AuthorizationCode-shaped model) and `grant`. */
export function issueTokens(
  provider: Provider,
  helpers: Record<string, unknown>,
  ctx: KoaContextWithOIDC,
  source: unknown,
  grant: unknown,
  options: { gty: string; entityLabel: string },
): Promise<void> {
  return (internalIssueTokens as (...args: unknown[]) => Promise<void>)(provider, helpers, ctx, source, grant, options);
}

export const internalsLoaded = typeof internalIssueTokens === 'function' && Object.keys(grantHelpers).length > 0;

/**
 * Whether oidc-provider wants a client_secret for `metadata` (secret-based client authentication,
 * HS* signing or symmetric encryption): its own static `Client.needsSecret`, untyped in its types.
 */
export function clientNeedsSecret(provider: Provider, metadata: Record<string, unknown>): boolean {
  return (provider.Client as unknown as { needsSecret(metadata: Record<string, unknown>): boolean }).needsSecret(metadata);
}
