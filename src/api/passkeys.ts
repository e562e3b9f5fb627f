// Auth0's native passkey API, so apps on @auth0/auth0-spa-js (`passkey.signup()/login()`) and
// @auth0/auth0-auth-js (`passkey.register()/challenge()`) work unchanged: POST /passkey/register
// (a sign-up ceremony's options) and POST /passkey/challenge (a discoverable sign-in's). The
// ceremony ends at the token endpoint with the webauthn grant (oidc/grants/webauthn.ts).
// Options carry no excludeCredentials / allowCredentials: spa-js cannot decode them (PROTOCOLS-NEXT B.5).
// Whether an email already has an account is not told here (no enumeration); the grant refuses it.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { check } from '../risk/check.js';
import { PASSKEY_CEREMONIES_PER_IP } from '../risk/limits.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import { startAuthentication, startRegistration, type SignUpProfile } from '../passwordless/passkeys.js';
import { maySignUp } from '../passwordless/sign-up.js';
import { requesterIp } from '../passwordless/requester-network.js';
import { trustsForwardedFor } from '../oidc/client-metadata.js';
import { apiAsker, grantType as WEBAUTHN } from '../oidc/grants/webauthn.js';
import { authenticateClient } from './client-auth.js';
import { corsFor } from './cors.js';

/** What these routes use: clients (provider), storage, config and the log of the ceremonies. */
export type PasskeyApiDeps = Pick<Services, 'provider' | 'config' | 'db' | 'log'>;

type Body = Record<string, unknown>;

const invalid = (detail: string) => new SesameError('invalidRequest', { detail });

/** The sign-up's profile from Auth0's `user_profile`: an email or a phone number (E.164), and a name. */
function profileOf(body: Body): SignUpProfile {
  const raw = body.user_profile;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('user_profile is required: an object with email or phone_number.');
  const given = raw as Record<string, unknown>;
  const email = given.email === undefined ? undefined : normalizeEmail(given.email);
  if (email === null) throw new SesameError('auth0BadEmail');
  const phone = given.phone_number === undefined ? undefined : parsePhone(given.phone_number);
  if (phone === null) throw new SesameError('auth0BadPhone');
  if (!email && !phone) throw invalid('user_profile needs email or phone_number.');
  const name = typeof given.name === 'string' && given.name.trim() ? given.name.trim().slice(0, 200) : undefined;
  return { ...(email && { email }), ...(phone && { phoneNumber: phone.e164 }), ...(name && { name }) };
}

export function passkeyRouter(s: PasskeyApiDeps): Router {
  const router = new Router({ prefix: '/passkey' });
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' });
  const issuerBase = s.config.issuer.replace(/\/$/, '');
  const audiences = [s.config.issuer, `${issuerBase}/`, `${issuerBase}/oauth/token`];
  const cors = corsFor(s);

  /** The authenticated client (allowed the webauthn grant, from one of its web origins) and the ceremony's asker, within the IP's limit. */
  async function caller(ctx: Context, body: Body) {
    const { client, confidential } = await authenticateClient(s.provider, s.db, ctx, body, audiences);
    await cors.checkActualOrigin(ctx, client);
    if (!client.grantTypeAllowed(WEBAUTHN)) throw new SesameError('unauthorizedClient', { detail: `Grant type '${WEBAUTHN}' not allowed for the client.` });
    if (body.organization !== undefined) throw invalid('Organizations are not supported.');
    const ip = requesterIp(ctx, confidential && trustsForwardedFor(client.metadata()));
    const decision = await check(s.db, PASSKEY_CEREMONIES_PER_IP, [ip], undefined);
    if (decision.kind !== 'allow') throw tooManyRequests(decision.retryAfter, `Too many passkey requests; wait ${decision.retryAfter} s.`);
    return apiAsker(client, ip);
  }

  router.options('/register', cors.preflight);
  router.options('/challenge', cors.preflight);

  router.post('/register', parse, async function passkeySignUpChallenge(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    const asker = await caller(ctx, body);
    const profile = profileOf(body);
    if (!maySignUp(s.config.signUp)) throw new SesameError('passkeySignUpClosed');
    const { handle, options } = await startRegistration(s, { profile }, asker, false);
    const { challenge, rp, user, pubKeyCredParams, authenticatorSelection, timeout } = options;
    ctx.body = {
      auth_session: handle,
      authn_params_public_key: {
        challenge,
        rp,
        user,
        pubKeyCredParams,
        authenticatorSelection: { residentKey: authenticatorSelection?.residentKey, userVerification: authenticatorSelection?.userVerification },
        timeout,
      },
    };
  });

  router.post('/challenge', parse, async function passkeySignInChallenge(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    const { handle, options } = await startAuthentication(s, await caller(ctx, body));
    const { challenge, rpId, timeout, userVerification } = options;
    ctx.body = { auth_session: handle, authn_params_public_key: { challenge, rpId, timeout, userVerification } };
  });

  return router;
}
