// Resource indicators: each configured API is a resource server whose identifier is the audience
// of JWT access tokens. Auth0's `audience` parameter is accepted as a synonym of `resource`.
import type { KoaContextWithOIDC, ResourceServer } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { ApiConfig } from '../config/schema.js';
import { tenantOfAudience, tenantResourceServer } from './userfront-tenants.js';
import { isManagementClient, isUserfrontTenant } from './client-metadata.js';
import { grantTypes as MFA_GRANTS } from './grants/mfa.js';

/** The management API's audience, like Auth0's `https://<tenant>/api/v2/`. */
export const managementAudience = (issuer: string) => `${issuer.replace(/\/$/, '')}/api/v1/`;

/**
 * The management API's scopes, one per area and kind of access; `admin` is every one (the tokens
 * made before areas existed keep working). api/admin-auth.ts says which a route needs.
 */
export const MANAGEMENT_SCOPES = {
  admin: 'Everything in this API.',
  'users:read': 'Search, read and export users, their sessions, grants, passkeys and second factors.',
  'users:write': 'Change, block, unblock and delete users; end their sessions and grants; remove their passkeys and factors.',
  'clients:read': 'List and read clients.',
  'clients:write': 'Register, change, rotate the secret of and remove clients.',
  'links:write': 'Create and revoke sign-in links.',
  'service-clients:read': 'List service clients of external connections.',
  'service-clients:write': 'Create and revoke service clients and their keys.',
  'actions:review': 'Approve or deny risk decisions held for review.',
  'audit:read': 'Read and export the audit log.',
  'outbox:read': 'List pending and failed messages (emails, texts, webhooks).',
  'outbox:write': 'Retry a failed message.',
  'keys:read': 'List signing keys (public parts and state only).',
  'keys:write': 'Rotate signing keys.',
} as const;

export type ManagementScope = keyof typeof MANAGEMENT_SCOPES;

/** Lifetime of management API tokens, in seconds: short, since they can do anything. */
export const MANAGEMENT_TOKEN_TTL = 600;

/** Auth0's MFA API audience (`https://<tenant>/mfa/`): tokens that list, add and remove a user's factors. */
export const mfaAudience = (issuer: string) => `${issuer.replace(/\/$/, '')}/mfa/`;

export const isMfaAudience = (issuer: string, resource: unknown) => resource === mfaAudience(issuer);

/** Lifetime of MFA API tokens, in seconds: Auth0's ten minutes. */
const MFA_API_TOKEN_TTL = 600;

/** The scopes of MFA API tokens (Auth0's). */
export const MFA_API_SCOPES = ['enroll', 'read:authenticators', 'remove:authenticators'] as const;

export function resourceIndicators(apis: readonly ApiConfig[], issuer: string) {
  const byId = new Map(apis.map((api) => [api.identifier, api]));
  const management = managementAudience(issuer);
  const mfa = mfaAudience(issuer);
  return {
    enabled: true,
    defaultResource(ctx: KoaContextWithOIDC): string | undefined {
      // Authorization requests carry it as a parameter; token requests (client credentials) in the body.
      const audience = ctx.oidc.params?.audience ?? (ctx.oidc.body as Record<string, unknown> | undefined)?.audience;
      return typeof audience === 'string' && audience ? audience : undefined;
    },
    async getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string; metadata(): Record<string, unknown> }): Promise<ResourceServer> {
      if (indicator === management) {
        // Only clients the operator flagged may even ask; everyone else is told it does not exist.
        if (!isManagementClient(client.metadata())) throw new errors.InvalidTarget(`unknown audience or resource: ${indicator}`);
        // Never through a user's sign-in; client-metadata.ts already keeps management clients to
        // client credentials, this holds even for a client stored before that rule.
        if (ctx.oidc.route !== 'token' || ctx.oidc.params?.grant_type !== 'client_credentials') {
          throw new errors.InvalidTarget('the management API is only available to the client_credentials grant');
        }
        // Opaque, so each token is a stored row: the API looks it up on every call, and a token
        // revoked at /oauth/revoke (which refuses JWTs) is gone at once. Ten minutes.
        return { scope: Object.keys(MANAGEMENT_SCOPES).join(' '), audience: management, accessTokenTTL: MANAGEMENT_TOKEN_TTL, accessTokenFormat: 'opaque' };
      }
      if (indicator === mfa) {
        // Only from a second factor: asked for at the first factor (kept with the mfa_token), issued
        // by the MFA grants. Opaque rows, so the MFA API sees expiry and revocation; never refreshed
        // (issueRefreshToken in provider.ts).
        if (ctx.oidc.route !== 'token' || !MFA_GRANTS.includes(String(ctx.oidc.params?.grant_type))) {
          throw new errors.InvalidTarget('the MFA API audience is only issued after a second factor, by the MFA grants');
        }
        return { scope: MFA_API_SCOPES.join(' '), audience: mfa, accessTokenTTL: MFA_API_TOKEN_TTL, accessTokenFormat: 'opaque' };
      }
      const tenant = tenantOfAudience(issuer, indicator);
      if (tenant !== undefined) {
        // A Userfront tenant's own audience, for that tenant only.
        if (tenant !== client.clientId || !isUserfrontTenant(client.metadata())) throw new errors.InvalidTarget(`unknown audience or resource: ${indicator}`);
        return tenantResourceServer(indicator);
      }
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
