// Bearer authentication of the management API: only a client-credentials token (never one that
// carries a user) of a client that is still flagged `management_api`, for the management audience,
// with scope admin. Those tokens are opaque rows (see oidc/resources.ts), so the lookup here also
// sees expiry and revocation at /oauth/revoke.
import type { Context, Next } from 'koa';
import type { Services } from '../services.js';
import { managementAudience } from '../oidc/resources.js';
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

export function requireAdmin(s: Services) {
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
    if (!token.scope?.split(' ').includes('admin')) {
      throw new SesameError('insufficientScope');
    }
    (ctx.state as AdminState).managementClientId = token.clientId!;
    await next();
  };
}
