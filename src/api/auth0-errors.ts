// Where oidc-provider's wording differs from Auth0's on the token endpoint, answer like Auth0 so
// SDK error handling written against Auth0 keeps working. One place, applied after the provider.
import type { Context, Next } from 'koa';
import { grantTypes as OTP_GRANTS } from '../oidc/grants/passwordless-otp.js';

export async function auth0TokenErrors(ctx: Context, next: Next) {
  await next();
  if (ctx.path !== '/oauth/token' || ctx.status !== 400) return;
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (body?.error === 'invalid_request' && body.error_description === 'requested grant type is not allowed for this client') {
    const grantType = String((ctx.oidc?.params as Record<string, unknown> | undefined)?.grant_type ?? OTP_GRANTS[0]);
    ctx.status = 403;
    ctx.body = { error: 'unauthorized_client', error_description: `Grant type '${grantType}' not allowed for the client.` };
  }
}
