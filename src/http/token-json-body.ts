// JSON at the token endpoint, for the few grants whose SDKs send nothing else: Auth0's SDKs post the
// passkey grant (and the MFA grants) as JSON, which oidc-provider refuses. For those grant types
// only, the JSON body becomes the form oidc-provider reads (nested objects as JSON strings, as
// auth-js's form would carry them); every other JSON body reaches it untouched and is refused as
// before. oidc-provider takes an already parsed body by design (lib/shared/selective_body.js: it
// falls back to request.body and prints a one-time notice).
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';

/** Body size oidc-provider itself accepts at the token endpoint. */
const LIMIT = '56kb';

/** A form value per member: strings as they are, objects and arrays as JSON, null dropped. */
function flatten(body: Record<string, unknown>): Record<string, string> {
  const form: Record<string, string> = {};
  for (const [name, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    form[name] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value as number | boolean);
  }
  return form;
}

/** `grantTypes`: the grants whose JSON bodies are accepted at `tokenPath` (the list grows with the MFA grants). */
export function tokenJsonBody(tokenPath: string, grantTypes: readonly string[]): Middleware {
  const accepted = new Set(grantTypes);
  // An unreadable body stays unparsed: oidc-provider then refuses the JSON as it always did.
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: LIMIT, onError: () => {} });
  return async function jsonTokenRequest(ctx: Context, next: Next) {
    if (ctx.method !== 'POST' || ctx.path !== tokenPath || !ctx.is('application/json')) return next();
    await parse(ctx, async () => {});
    const body = ctx.request.body as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const grantType = (body as Record<string, unknown>).grant_type;
      if (typeof grantType === 'string' && accepted.has(grantType)) {
        ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded';
        ctx.request.body = flatten(body as Record<string, unknown>);
      }
    }
    return next();
  };
}
