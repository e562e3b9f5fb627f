// Bearer authentication of the management API: a JWT access token Sesame itself issued for the
// management audience (client credentials of a client flagged `management_api`) with scope admin.
import type { Context, Next } from 'koa';
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import type { Services } from '../services.js';
import { loadSigningJwks } from '../storage/signing-keys.js';
import { managementAudience } from '../oidc/resources.js';
import { SesameError } from '../http/errors.js';

/** Public halves of our signing keys. */
function publicJwk(jwk: JWK): JWK {
  const { kty, kid, alg, use, n, e, crv, x, y } = jwk;
  return Object.fromEntries(Object.entries({ kty, kid, alg, use, n, e, crv, x, y }).filter(([, v]) => v !== undefined)) as JWK;
}

export function requireAdmin(s: Services) {
  const audience = managementAudience(s.config.issuer);
  return async function adminBearer(ctx: Context, next: Next) {
    const [scheme, token] = ctx.get('authorization').split(' ');
    const challenge = { 'WWW-Authenticate': `Bearer realm="${audience}"` };
    if (scheme?.toLowerCase() !== 'bearer' || !token) {
      throw new SesameError(401, 'invalid_token', 'A bearer token for the management API is required.', challenge);
    }
    const keys = createLocalJWKSet({ keys: (await loadSigningJwks(s.db)).map(publicJwk) });
    let scope: unknown;
    try {
      ({ payload: { scope } } = await jwtVerify(token, keys, { issuer: s.config.issuer, audience, typ: 'at+jwt' }));
    } catch (err) {
      throw new SesameError(401, 'invalid_token', `The access token is not valid: ${(err as Error).message}`, challenge);
    }
    if (typeof scope !== 'string' || !scope.split(' ').includes('admin')) {
      throw new SesameError(403, 'insufficient_scope', 'The access token lacks the admin scope.');
    }
    await next();
  };
}
