// POST at the authorization and logout endpoints (OIDC Core 3.1.2.1 and RP-Initiated Logout 2:
// both MUST accept form-encoded POST), answered with 303 See Other to the same request as GET.
//
// Why not oidc-provider's own POST support (enableHttpPostMethods): it requires the session cookie
// to be SameSite=None, since a cross-site POST (an RP's page posting to /authorize) carries no
// SameSite=Lax cookie. None needs Secure, so https only, and it sends the session with every
// cross-site request. The GET that a 303 turns the POST into is a top-level navigation, which does
// carry Lax cookies: a signed-in user is recognised, and the logout confirmation (with its
// session-bound xsrf token) is shown exactly as for GET, so another site cannot sign the user out.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { badRequest } from './errors.js';

// The parameters end up in the request line of the GET; Node refuses request headers over 16 KiB.
const FORM_LIMIT = '8kb';

export function postAsGet(paths: readonly string[]) {
  const form = bodyParser({ enableTypes: ['form'], formLimit: FORM_LIMIT, encoding: 'utf-8' });
  const endpoints = new Set(paths);
  return async function redirectPostToGet(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || !endpoints.has(ctx.path)) return next();
    if (!ctx.is('application/x-www-form-urlencoded')) {
      throw badRequest('Send the parameters of this endpoint as a form (application/x-www-form-urlencoded) or in the query string of a GET.');
    }
    if (ctx.querystring) throw badRequest('Send the parameters either in the form body or in the query string, not both.');
    await form(ctx, async () => undefined);
    // The raw body, not the parsed one: repeated parameters stay repeated (oidc-provider refuses
    // them as on GET) and names like a[b] stay names.
    const query = new URLSearchParams(ctx.request.rawBody ?? '');
    ctx.status = 303;
    ctx.set('Cache-Control', 'no-store');
    // Relative to the endpoint itself (`authorize?…`), so it holds behind a proxy that adds a path prefix.
    ctx.redirect(`${ctx.path.slice(ctx.path.lastIndexOf('/') + 1)}?${query}`);
  };
}
