// The network a requester's address belongs to, for limits keyed by source: one customer usually
// holds a whole IPv4 /24 (or sits behind one) and an IPv6 /64 (one subscriber's LAN), so rotating
// addresses inside it must not make a new source. Unparseable input is its own network rather than an error.
// Also the requester's own address, read in one place by the app, the provider, the grants and the
// API routes: behind `trustProxy` proxies, the X-Forwarded-For entry the outermost trusted proxy
// appended (the Nth from the right), never one the client wrote. Requests are typed by what is read
// of them, so this module stays free of Koa.
import { isIP, isIPv4, isIPv6 } from 'node:net';

/**
 * Makes `ctx.ip` the address the outermost of `hops` trusted proxies saw: Koa keeps only the last
 * `maxIpsCount` X-Forwarded-For entries, and `ctx.ip` is the first of those. Entries further left
 * were written by the client (or a proxy we do not know) and can be anything. `app` is a Koa app
 * (or the oidc-provider, which is one).
 */
export function trustProxies(app: { proxy: boolean; maxIpsCount: number }, hops: number): void {
  app.proxy = hops > 0;
  app.maxIpsCount = hops;
}

/** Whether the TCP peer (not any header) is this machine: 127.0.0.0/8, ::1 or their IPv4-mapped form. */
export function peerIsLoopback(ctx: { req: { socket: { remoteAddress?: string | undefined } } }): boolean {
  const address = (ctx.req.socket.remoteAddress ?? '').replace(/^::ffff:/i, '');
  return address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}

/** What `requesterIp` reads of a request: a Koa context fits, without this module knowing Koa. */
export interface RequestAddress {
  /** The peer address, already resolved through trusted proxies (see trustProxies). */
  ip: string;
  get(field: string): string;
  state: { log?: { warn(fields: object, message: string): void } };
}

/**
 * The end user's IP for limits and audit: `ctx.ip`, or Auth0's `auth0-forwarded-for` header when
 * an authenticated client flagged `trust_forwarded_for` sends it; from anyone else it is ignored and logged.
 */
export function requesterIp(ctx: RequestAddress, trusted = false): string {
  const forwarded = ctx.get('auth0-forwarded-for').trim();
  if (!forwarded) return ctx.ip;
  if (trusted && isIP(forwarded)) return forwarded;
  ctx.state.log?.warn({ ip: ctx.ip, trusted }, 'auth0-forwarded-for ignored');
  return ctx.ip;
}

/** The requester network of `ip`: `a.b.c.0/24` for IPv4 (also IPv4-mapped IPv6), `w:x:y:z::/64` for IPv6. */
export function requesterNetwork(ip: string): string {
  const address = ip.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  const v4 = mapped ?? address;
  if (isIPv4(v4)) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  if (isIPv6(address)) return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
  return address;
}

/** The eight groups of an IPv6 address, without leading zeros ("::" expanded). */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  // A dotted IPv4 tail stands for two groups; only the first four groups are used, so its value does not matter.
  const left = groups(head);
  const right = groups(tail ?? '').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => g.replace(/^0+(?=.)/, ''));
}
