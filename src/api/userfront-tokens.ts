// Userfront sessions over ordinary oidc-provider tokens, issued in-process (oidc/grants/issue.ts):
// sign-in gets the login-ticket grant's tokens, refresh runs oidc-provider's refresh_token grant;
// logging out revokes the grant behind the access token. Answers carry the tokens with the cookie
// options the SDK applies.
import type { Context } from 'koa';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { errors } from 'oidc-provider';
import type { Services } from '../services.js';
import { issuedAs as LOGIN_TICKET } from '../oidc/grants/login-ticket.js';
import { issueForClient, refreshForClient, type TokenResponse } from '../oidc/grants/issue.js';
import { tenantAudience } from '../oidc/userfront-tenants.js';
import type { Client } from '../oidc/client-metadata.js';
import { loadSigningJwks, publicJwk } from '../storage/signing-keys.js';
import { recordAudit } from '../storage/audit.js';
import { afterLogin, afterLogout, findTenant, loginPage, unauthorized, userfrontCors } from './userfront-tenant.js';
import { ProviderStorageUnavailable } from '../oidc/storage-errors.js';

const DAY = 86_400;

function bearer(ctx: Context): string {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
  if (!match) throw unauthorized('Missing Authorization: Bearer token.');
  return match[1]!;
}

/** Userfront's login answer. Cookies are Secure when the app's page is https, like Userfront's live mode. */
function loginAnswer(s: Services, ctx: Context, tenant: Client, body: TokenResponse) {
  const secure = (ctx.get('origin') || loginPage(tenant) || '').startsWith('https:');
  const cookie = (seconds: number, sameSite = 'Lax') => ({ secure, sameSite, expires: seconds / DAY });
  return {
    message: 'OK',
    redirectTo: afterLogin(tenant),
    tokens: {
      access: { value: body.access_token, cookieOptions: cookie(body.expires_in) },
      id: { value: body.id_token, cookieOptions: cookie(s.config.tokens.idToken) },
      ...(body.refresh_token ? { refresh: { value: body.refresh_token, cookieOptions: cookie(s.config.tokens.refreshToken, 'Strict') } } : {}),
    },
  };
}

/** Signs `userId` in to `tenant`: the login-ticket grant's tokens for the tenant's audience, issued in-process. */
async function signIn(s: Services, ctx: Context, tenant: Client, userId: string, amr: readonly string[]) {
  const signedIn = { accountId: userId, amr, scope: 'openid email profile', resource: tenantAudience(s.config.issuer, tenant.clientId) };
  const body = await issueForClient(s.provider, ctx.req, tenant, signedIn, LOGIN_TICKET).catch((err: unknown) => {
    // A refusal here is the operator's or Sesame's fault, never the user's: a server error.
    if (err instanceof ProviderStorageUnavailable) throw err.cause; // storage down: the 503 of our routes
    if (err instanceof errors.OIDCProviderError) throw new Error(`tenant tokens refused: ${err.error} ${err.error_description ?? ''}`);
    throw err;
  });
  return loginAnswer(s, ctx, tenant, body);
}

/** GET /v0/auth/refresh with the refresh token as bearer: the refresh_token grant, rotated. */
async function refresh({ s, cors }: SessionDeps, ctx: Context) {
  const token = bearer(ctx);
  const found = await s.provider.RefreshToken.find(token).catch(() => undefined);
  const tenant = found?.clientId ? await findTenant(s, found.clientId) : undefined;
  if (!tenant) throw unauthorized('Invalid or expired refresh token.');
  await cors.checkActualOrigin(ctx, tenant);
  // Whatever the refusal (logged as grant.error), the SDK is told to sign in again.
  const body = await refreshForClient(s.provider, ctx.req, tenant, token).catch(() => {
    throw unauthorized('Invalid or expired refresh token.');
  });
  ctx.body = loginAnswer(s, ctx, tenant, body);
}

/** Who an access token was issued to: a tenant JWT (expired ones too, as Userfront allows) or an opaque one. */
async function accessTokenOwner(s: Services, token: string) {
  if (token.split('.').length !== 3) {
    const found = await s.provider.AccessToken.find(token).catch(() => undefined);
    return found?.grantId && found.clientId && found.accountId ? { clientId: found.clientId, accountId: found.accountId, grantId: found.grantId } : undefined;
  }
  const keys = (await loadSigningJwks(s.db)).map(publicJwk);
  let payload;
  try {
    ({ payload } = await jwtVerify(token, createLocalJWKSet({ keys }), { issuer: s.provider.issuer, typ: 'at+jwt' }));
  } catch (err) {
    // The signature is checked before the claims, so an expired token's payload is genuine.
    if (!(err instanceof joseErrors.JWTExpired)) return undefined;
    payload = err.payload;
  }
  const { client_id: clientId, sub: accountId, sessionId: grantId, aud } = payload as Record<string, unknown>;
  if (typeof clientId !== 'string' || typeof accountId !== 'string' || typeof grantId !== 'string') return undefined;
  return aud === tenantAudience(s.config.issuer, clientId) ? { clientId, accountId, grantId } : undefined;
}

/** GET /v0/auth/logout with the access token as bearer: the grant behind it, and every token of it, revoked. */
async function logout({ s, cors }: SessionDeps, ctx: Context) {
  const owner = await accessTokenOwner(s, bearer(ctx));
  const tenant = owner && (await findTenant(s, owner.clientId));
  if (!owner || !tenant) throw unauthorized('Invalid access token.');
  await cors.checkActualOrigin(ctx, tenant);
  const grant = await s.provider.Grant.find(owner.grantId);
  if (grant && grant.clientId === owner.clientId && grant.accountId === owner.accountId) {
    await Promise.all([s.provider.AccessToken.revokeByGrantId(owner.grantId), s.provider.RefreshToken.revokeByGrantId(owner.grantId), grant.destroy()]);
    await recordAudit(s.db, { type: 'logout', clientId: owner.clientId, userId: owner.accountId, ip: ctx.ip });
  }
  ctx.body = { message: 'OK', redirectTo: afterLogout(tenant) };
}

interface SessionDeps {
  s: Services;
  cors: ReturnType<typeof userfrontCors>;
}

/** The sign-in and the session routes (refresh, logout), bound once per router. */
export function userfrontSessions(s: Services) {
  const deps: SessionDeps = { s, cors: userfrontCors(s) };
  return { signIn: signIn.bind(undefined, s), refresh: refresh.bind(undefined, deps), logout: logout.bind(undefined, deps) };
}
