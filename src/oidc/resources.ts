// Resource indicators: each configured API is a resource server whose identifier is the audience
// of JWT access tokens. Auth0's `audience` parameter is accepted as a synonym of `resource`.
import type { KoaContextWithOIDC, ResourceServer } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { ApiConfig } from '../config/schema.js';

export function resourceIndicators(apis: readonly ApiConfig[]) {
  const byId = new Map(apis.map((api) => [api.identifier, api]));
  return {
    enabled: true,
    defaultResource(ctx: KoaContextWithOIDC): string | undefined {
      // Authorization requests carry it as a parameter; token requests (client credentials) in the body.
      const audience = ctx.oidc.params?.audience ?? (ctx.oidc.body as Record<string, unknown> | undefined)?.audience;
      return typeof audience === 'string' && audience ? audience : undefined;
    },
    async getResourceServerInfo(_ctx: KoaContextWithOIDC, indicator: string): Promise<ResourceServer> {
      const api = byId.get(indicator);
      if (!api) throw new errors.InvalidTarget(`unknown audience or resource: ${indicator}`);
      return {
        scope: api.scopes.join(' '),
        audience: api.identifier,
        accessTokenTTL: api.accessTokenTtl,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      };
    },
    useGrantedResource: () => true,
  };
}
