// Bearer authentication of the management API: only a client-credentials token (never one that
// carries a user) of a client that is still flagged `management_api`, for the management audience,
// with the scope the route needs (or admin, which is all of them). Those tokens are opaque rows (see
// oidc/resources.ts), so the lookup here also sees expiry and revocation at /oauth/revoke.
import type { Context, Next } from 'koa';
import type { Services } from '../services.js';
import { managementAudience, type ManagementScope } from '../oidc/resources.js';
import { isManagementClient } from '../oidc/client-metadata.js';
import { SesameError } from '../errors.js';

/** What requireAdmin leaves in ctx.state for the routes after it. */
interface AdminState {
  /** The management client whose token was accepted: the audit names it as who made a change. */
  managementClientId: string;
}

export function managementClientOf(ctx: Context): string {
  return (ctx.state as AdminState).managementClientId;
}

/**
 * The scopes routes declared with themselves (management-routes.ts), by "<METHOD> <path template>".
 * A route that declared none needs its area's: the path's first segment after /api/v1, `:read` for
 * GET and `:write` otherwise (`actions:review` for the review of a decision).
 */
export type DeclaredScopes = Map<string, ManagementScope>;

export function scopeOf(declared: DeclaredScopes, method: string, path: string): ManagementScope {
  const own = declared.get(`${method} ${path}`);
  if (own) return own;
  const area = path.replace(/^\/api\/v1/, '').split('/')[1];
  if (area === 'actions') return 'actions:review';
  return `${area}:${method === 'GET' ? 'read' : 'write'}` as ManagementScope;
}

/** The path template of the route this request reached (the router runs this check before it). */
function routeOf(ctx: Context): string | undefined {
  const matched = (ctx as { matched?: Array<{ path: string; methods: string[] }> }).matched ?? [];
  return matched.filter((layer) => layer.methods.includes(ctx.method)).at(-1)?.path;
}

export function requireAdmin(s: Services, declared: DeclaredScopes = new Map()) {
  const audience = managementAudience(s.config.issuer);
  const challenge = { 'WWW-Authenticate': `Bearer realm="${audience}"` };
  const invalid = (why: string) => new SesameError('invalidToken', { detail: `The access token is not valid: ${why}.`, headers: challenge });

  return async function adminBearer(ctx: Context, next: Next) {
    const [scheme, value] = ctx.get('authorization').split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !value) {
      throw new SesameError('invalidToken', { detail: 'A bearer token for the management API is required.', headers: challenge });
    }
    // The ClientCredentials model holds only client-credentials tokens: a user's access token (any
    // format, any audience) is simply not found here.
    const token = await s.provider.ClientCredentials.find(value);
    if (!token) throw invalid('unknown, expired or revoked, or not a client-credentials token of the management API');
    if (token.aud !== audience) throw invalid('not issued for the management API');
    // Checked live, so un-flagging or removing a client ends its tokens at once.
    const client = token.clientId ? await s.provider.Client.find(token.clientId).catch(() => undefined) : undefined;
    if (!isManagementClient(client?.metadata())) throw invalid('its client may no longer use the management API');
    const route = routeOf(ctx);
    const needed = route ? scopeOf(declared, ctx.method === 'HEAD' ? 'GET' : ctx.method, route) : 'admin';
    const held = token.scope?.split(' ') ?? [];
    if (!held.includes('admin') && !held.includes(needed)) {
      throw new SesameError('insufficientScope', { detail: `The access token lacks the scope ${needed} (or admin).` });
    }
    (ctx.state as AdminState).managementClientId = token.clientId!;
    await next();
  };
}
