// Auth0's error format: our /passwordless/* routes answer in it (auth0ApiErrors), and where
// oidc-provider's wording differs from Auth0's on the token endpoint we answer like Auth0, so SDK
// error handling written against Auth0 keeps working.
import type { Context, Next } from 'koa';
import type { Renderer } from '../http/render.js';
import { catchErrors, errorLocale, oauthErrorBody } from '../http/errors.js';
import { grantTypes as OTP_GRANTS } from '../oidc/grants/passwordless-otp.js';

/** Rewrites oidc-provider's answer where Auth0 says it otherwise; applied after the provider. */
export function auth0TokenErrors(ctx: Context, next: Next): Promise<unknown> {
  // Other paths pass straight on: no async step of its own on userinfo and introspection calls.
  return ctx.path === '/oauth/token' ? rewriteTokenErrors(ctx, next) : next();
}

async function rewriteTokenErrors(ctx: Context, next: Next) {
  await next();
  if (ctx.status !== 400) return;
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (body?.error === 'invalid_request' && body.error_description === 'requested grant type is not allowed for this client') {
    const grantType = String((ctx.oidc?.params as Record<string, unknown> | undefined)?.grant_type ?? OTP_GRANTS[0]);
    ctx.status = 403;
    ctx.body = { error: 'unauthorized_client', error_description: `Grant type '${grantType}' not allowed for the client.` };
  }
}

/**
 * Errors of the Auth0-style API: Auth0 answers with OAuth's body (`error`, `error_description`),
 * its own codes (`bad.connection`, `bad.phone_number`...) in `error`, and English descriptions.
 */
export function auth0ApiErrors(renderer: Renderer, defaultLocale: string) {
  return catchErrors(function renderAuth0Error(ctx, err) {
    ctx.body = oauthErrorBody(renderer, errorLocale(ctx, defaultLocale), err);
  });
}
