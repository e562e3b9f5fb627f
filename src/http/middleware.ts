// Cross-cutting middleware: request ids and logs, security headers, issuer-pinned origin, and the
// choice of error handler by route family.
import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from '../log.js';

/** Gives every request an id and a child logger, and logs one line when it ends (path only: query strings carry secrets). */
export function requestLogger(log: Logger) {
  return async function logRequest(ctx: Context, next: Next) {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[\w-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    // Made on first use: most token and userinfo requests log nothing at the production level.
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (child ??= log.child({ requestId })), enumerable: true });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      // 501 answers a method no route implements (a scanner's PROPFIND): the client's doing, not ours.
      const failed = ctx.status >= 500 && ctx.status !== 501;
      if (failed || log.isLevelEnabled('info')) {
        const ms = Math.round((performance.now() - started) * 10) / 10;
        const line = { method: ctx.method, path: ctx.path, status: ctx.status, ms, ip: ctx.ip };
        if (failed) ctx.state.log.error(line, 'request failed');
        else ctx.state.log.info(line, 'request');
      }
    }
  };
}

/**
 * Strict CSP (no inline script or style), no framing, no sniffing, no referrer; with an https issuer,
 * HSTS too, so a browser that has seen us never again sends a code or cookie over plain HTTP
 * (the issuer, not the request, decides: behind a TLS-terminating proxy the request is plain).
 */
export function securityHeaders(issuer: string) {
  const https = new URL(issuer).protocol === 'https:';
  return async function setSecurityHeaders(ctx: Context, next: Next) {
    ctx.set(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    );
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    // One year, this host only: subdomains may be other services of the operator's.
    if (https) ctx.set('Strict-Transport-Security', 'max-age=31536000');
    await next();
  };
}

/**
 * Makes the request's origin the configured issuer's, so URLs that oidc-provider builds from the
 * request (discovery, redirects) never come from a Host header a client chose. Set once on the
 * app's request prototype (every ctx.request inherits from it), not per request: redefining five
 * properties on each request object cost CPU on every token, userinfo and introspection call.
 */
export function pinOriginToIssuer(app: Koa, issuer: string): void {
  const url = new URL(issuer);
  const protocol = url.protocol.slice(0, -1);
  Object.defineProperties(app.request, {
    origin: { value: url.origin, configurable: true },
    protocol: { value: protocol, configurable: true },
    host: { value: url.host, configurable: true },
    hostname: { value: url.hostname, configurable: true },
    secure: { value: protocol === 'https', configurable: true },
  });
}

/** A route family's error handler: the format its routes answer in (see app.ts). */
export interface ErrorFamily {
  matches: (path: string) => boolean;
  handler: Middleware;
}

/**
 * Sends each request's errors to the handler of its route family, the first that matches, or to
 * `fallback` (the error page). Picked before the routers run, so an error thrown anywhere in the
 * request (body parsing, storage) is answered in the route's format.
 */
export function errorsByFamily(families: readonly ErrorFamily[], fallback: Middleware) {
  return function handleErrorsByFamily(ctx: Context, next: Next) {
    const family = families.find((f) => f.matches(ctx.path));
    return (family?.handler ?? fallback)(ctx, next);
  };
}

/**
 * `Cache-Control: no-store` on every answer of a router: pages of one sign-in or one account answer
 * for this browser and this moment only, so Back asks the server again (never the HTTP cache or the
 * back/forward cache) and a finished sign-in shows as finished; personal data is never cached.
 */
export async function noStore(ctx: Context, next: Next): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  await next();
}
