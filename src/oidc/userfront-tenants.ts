// Userfront tenants on the OIDC side: a client flagged `userfront: true` is the tenant whose id is
// its client_id. @userfront/core reads `exp` from the access token, so a tenant's access tokens are
// JWTs for the audience <issuer>/v0/tenants/<tenantId>, carrying Userfront's `tenantId` and
// `sessionId` (the grant, which is what logging out revokes).
import type { KoaContextWithOIDC, ResourceServer } from 'oidc-provider';

const base = (issuer: string) => `${issuer.replace(/\/$/, '')}/v0/tenants/`;

export const tenantAudience = (issuer: string, tenantId: string) => `${base(issuer)}${encodeURIComponent(tenantId)}`;

/** The tenant id an audience names, when it has the tenant shape; undefined otherwise. */
export function tenantOfAudience(issuer: string, audience: string): string | undefined {
  const prefix = base(issuer);
  const rest = audience.startsWith(prefix) ? audience.slice(prefix.length) : '';
  if (!rest || rest.includes('/')) return undefined;
  try {
    return decodeURIComponent(rest);
  } catch {
    return undefined;
  }
}

export function tenantResourceServer(audience: string): ResourceServer {
  return { scope: '', audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
}

type TokenLike = { grantId?: string; resourceServer?: { audience?: unknown } };

/** oidc-provider's extraTokenClaims: Userfront's claims in tenant access tokens, nothing elsewhere. */
export function userfrontTokenClaims(issuer: string) {
  return async function tenantClaims(_ctx: KoaContextWithOIDC, token: TokenLike) {
    const audience = token.resourceServer?.audience;
    const tenantId = typeof audience === 'string' ? tenantOfAudience(issuer, audience) : undefined;
    if (tenantId === undefined || !token.grantId) return undefined;
    return { tenantId, sessionId: token.grantId };
  };
}
