// Cross-cutting middleware: request ids and logs, security headers, issuer-pinned origin, errors.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../log.js';
import type { Renderer } from './render.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { SesameError, asKnownError } from './errors.js';
import { errorPageLocals, placeOfPath, type AppLink } from './error-pages.js';

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
      const failed = ctx.status >= 500;
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
    ctx.set('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
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
 * request (discovery, redirects) never come from a Host header a client chose.
 */
export function pinOriginToIssuer(issuer: string) {
  const url = new URL(issuer);
  const origin = url.origin;
  const protocol = url.protocol.slice(0, -1);
  return async function pinOrigin(ctx: Context, next: Next) {
    Object.defineProperties(ctx.request, {
      origin: { value: origin, configurable: true },
      protocol: { value: protocol, configurable: true },
      host: { value: url.host, configurable: true },
      hostname: { value: url.hostname, configurable: true },
      secure: { value: protocol === 'https', configurable: true },
    });
    await next();
  };
}

function wantsJson(ctx: Context): boolean {
  // The passwordless API speaks JSON, except the link landing page that people open in a browser.
  const api = ctx.path.startsWith('/api/') || (ctx.path.startsWith('/passwordless/') && ctx.path !== '/passwordless/verify_redirect');
  return api || ctx.accepts('html', 'json') === 'json';
}

/**
 * Renders our typed errors as JSON or the error page; unknown errors become a logged 500 without
 * details. A route that knows the client sets `ctx.state.app` (an AppLink) for the page's way back.
 */
export function errorHandler(renderer: Renderer, defaultLocale: string) {
  return async function handleErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (caught) {
      const err = asKnownError(ctx, caught);
      const known = err instanceof SesameError;
      const status = known ? err.status : (err as { status?: number; expose?: boolean }).expose ? ((err as { status: number }).status ?? 500) : 500;
      const code = known ? err.code : status === 500 ? 'server_error' : 'invalid_request';
      if (status >= 500 && !known) (ctx.state.log ?? console).error({ err }, 'unhandled error');
      if (known) for (const [k, v] of Object.entries(err.headers)) ctx.set(k, v);
      ctx.status = status;
      const locale = ctx.state.locale ?? negotiateLocale(undefined, ctx.get('accept-language'), defaultLocale);
      const description = known ? err.message : status === 500 ? 'error.server' : (err as Error).message;
      if (wantsJson(ctx)) {
        ctx.body = { error: code, error_description: known || status === 500 ? renderer.translate(locale, description) : description };
        return;
      }
      const t = (key: string, vars?: Record<string, string | number>) => renderer.translate(locale, key, vars);
      const app = (ctx.state.app as AppLink | undefined) ?? null;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await renderer.page('error', locale, errorPageLocals(t, { code, description, place: placeOfPath(ctx.path), app, requestId: ctx.state.requestId }));
    }
  };
}
