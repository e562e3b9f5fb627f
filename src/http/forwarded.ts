// The end user's IP for limits and audit. Behind `trustProxy` proxies, the X-Forwarded-For entry
// the outermost trusted proxy appended (the Nth from the right), never one the client wrote.
// Auth0's `auth0-forwarded-for` header is honoured only when the caller says so: for authenticated
// clients flagged `trust_forwarded_for` (client-metadata.ts); from anyone else it is ignored and logged.
import { isIP } from 'node:net';
import type Koa from 'koa';
import type { Context } from 'koa';

/**
 * Makes `ctx.ip` the address the outermost of `hops` trusted proxies saw: Koa keeps only the last
 * `maxIpsCount` X-Forwarded-For entries, and `ctx.ip` is the first of those. Entries further left
 * were written by the client (or a proxy we do not know) and can be anything.
 */
export function trustProxies(app: Koa, hops: number): void {
  app.proxy = hops > 0;
  app.maxIpsCount = hops;
}

export function requesterIp(ctx: Context, trusted = false): string {
  const forwarded = ctx.get('auth0-forwarded-for').trim();
  if (!forwarded) return ctx.ip;
  if (trusted && isIP(forwarded)) return forwarded;
  ctx.state.log?.warn({ ip: ctx.ip, trusted }, 'auth0-forwarded-for ignored');
  return ctx.ip;
}

/** Whether the TCP peer (not any header) is this machine: 127.0.0.0/8, ::1 or their IPv4-mapped form. */
export function peerIsLoopback(ctx: Context): boolean {
  const address = (ctx.req.socket.remoteAddress ?? '').replace(/^::ffff:/i, '');
  return address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}
