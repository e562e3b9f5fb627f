// The end user's IP for limits and audit. Auth0's `auth0-forwarded-for` header is honoured only for
// authenticated clients flagged `trust_forwarded_for`; from anyone else it is ignored and logged.
import { isIP } from 'node:net';
import type { Context } from 'koa';

export function requesterIp(ctx: Context, client?: { trust_forwarded_for?: unknown; token_endpoint_auth_method?: unknown }): string {
  const forwarded = ctx.get('auth0-forwarded-for').trim();
  if (!forwarded) return ctx.ip;
  const trusted = client?.trust_forwarded_for === true && client.token_endpoint_auth_method !== 'none';
  if (trusted && isIP(forwarded)) return forwarded;
  ctx.state.log?.warn({ ip: ctx.ip, trusted }, 'auth0-forwarded-for ignored');
  return ctx.ip;
}
