// Auth0's MFA API, so apps on @auth0/auth0-auth-js (`mfa.*`), @auth0/auth0-spa-js and nextjs-auth0
// work unchanged: GET /mfa/authenticators, POST /mfa/associate (api/mfa-associate.ts), POST
// /mfa/challenge, DELETE /mfa/authenticators/:id. The second factor itself is redeemed at the token
// endpoint (oidc/grants/mfa.ts). Bearers (api/mfa-callers.ts): an mfa_token, from the first factor
// alone, lists factors and enrols the first one, never adds to an enrolled user nor removes; an MFA
// API access token (after a second factor) does the rest.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { SesameError } from '../errors.js';
import { listFactors, removeFactor, type Factor } from '../passwordless/mfa/factors.js';
import { challengeableFactors } from '../passwordless/mfa/policy.js';
import { readMfaToken } from '../passwordless/mfa/tokens.js';
import { requesterIp } from '../passwordless/requester-network.js';
import { allowsFactor, openChallenge } from '../passwordless/sign-in-risk.js';
import { trustsForwardedFor } from '../oidc/client-metadata.js';
import { grantTypes as MFA_GRANTS } from '../oidc/grants/mfa.js';
import { authenticateClient } from './client-auth.js';
import { corsFor } from './cors.js';
import { associate } from './mfa-associate.js';
import { bearerCaller, requireScope, sendOob, type MfaApiDeps } from './mfa-callers.js';

export type { MfaApiDeps } from './mfa-callers.js';

type Body = Record<string, unknown>;

// Masked as Auth0 masks numbers: an mfa_token comes from the first factor alone, and its holder
// need not learn the second factor's address to pick it.
const maskPhone = (phone: string) => `+X XXXX${phone.slice(-4)}`;
const maskEmail = (email: string) => email.replace(/^(.)[^@]*@/, '$1***@');

/** A factor as Auth0 lists it: `type` always (spa-js filters by it), both oob_channel (Docs) and oob_channels (auth-js). */
function listed(f: Factor): Record<string, unknown> {
  const base = { id: f.id, active: true };
  if (f.type === 'totp') return { ...base, authenticator_type: 'otp', type: 'otp' };
  if (f.type === 'email') return { ...base, authenticator_type: 'oob', oob_channel: 'email', oob_channels: ['email'], name: maskEmail(f.email ?? ''), type: 'email' };
  if (f.type === 'sms') return { ...base, authenticator_type: 'oob', oob_channel: 'sms', oob_channels: ['sms'], name: maskPhone(f.phoneNumber ?? ''), type: 'phone' };
  return { ...base, authenticator_type: 'recovery-code', type: 'recovery-code' };
}

/** The challenge types asked for: Auth0's SDKs send one, older docs a space-separated list. */
function challengeTypes(body: Body): string[] {
  const types = typeof body.challenge_type === 'string' ? body.challenge_type.split(' ').filter(Boolean) : [];
  if (types.length === 0 || types.some((t) => t !== 'otp' && t !== 'oob')) throw new SesameError('invalidRequest', { detail: 'challenge_type must be "otp" or "oob".' });
  return types;
}

/**
 * POST /mfa/challenge: the client authenticates in the body (public clients by id), with its
 * mfa_token. `otp` needs nothing sent; `oob` sends a code to an email or SMS factor and answers an
 * oob_code bound to that mfa_token. Only factors of another kind than the first factor count, and
 * for a risk CHALLENGE's token only those of the rule's methods (another is refused as such).
 */
async function challenge(s: MfaApiDeps, ctx: Context, cors: ReturnType<typeof corsFor>): Promise<void> {
  const body = (ctx.request.body ?? {}) as Body;
  const issuerBase = s.config.issuer.replace(/\/$/, '');
  const { client, confidential } = await authenticateClient(s.provider, s.db, ctx, body, [s.config.issuer, `${issuerBase}/`, `${issuerBase}/oauth/token`]);
  await cors.checkActualOrigin(ctx, client);
  if (!MFA_GRANTS.some((g) => client.grantTypeAllowed(g))) throw new SesameError('unauthorizedClient', { detail: 'The client may not use the MFA grants.' });
  const read = await readMfaToken(s, body.mfa_token, client.clientId);
  if (!read.ok) throw new SesameError(read.reason === 'expired' ? 'mfaExpiredToken' : 'mfaMalformedToken');
  const { signIn } = read;
  const types = challengeTypes(body);
  const wanted = typeof body.authenticator_id === 'string' ? body.authenticator_id : undefined;
  const candidates = (await challengeableFactors(s.config, s.db, signIn.userId, signIn.amr)).filter((f): f is Factor => f.id !== 'passkey' && (!wanted || f.id === wanted));
  // A risk CHALLENGE's token: only while it waits, and only factors of the rule's methods.
  const methods = signIn.riskDecisionId ? await openChallenge(s.db, signIn.riskDecisionId) : undefined;
  if (methods === null) throw new SesameError('riskSignInDenied');
  const factors = methods ? candidates.filter((f) => allowsFactor(methods, f.type)) : candidates;
  for (const type of types) {
    if (type === 'otp' && factors.some((f) => f.type === 'totp')) {
      ctx.body = { challenge_type: 'otp' };
      return;
    }
    const oob = type === 'oob' && factors.find((f) => f.type === 'email' || f.type === 'sms');
    if (oob) {
      const asker = { userId: signIn.userId, clientId: client.clientId, mfaToken: body.mfa_token as string, trusted: confidential && trustsForwardedFor(client.metadata()) };
      ctx.body = { challenge_type: 'oob', oob_code: await sendOob(s, ctx, oob, asker), binding_method: 'prompt' };
      return;
    }
  }
  const offered = (f: Factor) => (types.includes('otp') && f.type === 'totp') || (types.includes('oob') && (f.type === 'email' || f.type === 'sms'));
  if (candidates.some(offered)) throw new SesameError('mfaFactorNotAllowed');
  const enrolled = (await listFactors(s, signIn.userId)).some((f) => f.confirmed && f.type !== 'recovery-code');
  throw new SesameError(enrolled ? 'mfaUnsupportedChallenge' : 'mfaAssociationRequired');
}

export function mfaRouter(s: MfaApiDeps): Router {
  const router = new Router({ prefix: '/mfa' });
  const parse = bodyParser({ enableTypes: ['json', 'form'], jsonLimit: '16kb' });
  const cors = corsFor(s, 'GET, POST, DELETE, OPTIONS');
  const caller = bearerCaller(s, cors);

  for (const path of ['/authenticators', '/authenticators/:id', '/associate', '/challenge']) router.options(path, cors.preflight);

  router.get('/authenticators', async function listAuthenticators(ctx) {
    const who = await caller(ctx);
    requireScope(who, 'read:authenticators');
    ctx.body = (await listFactors(s, who.userId)).filter((f) => f.confirmed).map(listed);
  });

  router.post('/associate', parse, async function associateAuthenticator(ctx) {
    await associate(s, ctx, await caller(ctx));
  });

  router.post('/challenge', parse, (ctx) => challenge(s, ctx, cors));

  router.delete('/authenticators/:id', async function deleteAuthenticator(ctx) {
    const who = await caller(ctx);
    if (who.via === 'mfa_token') throw new SesameError('mfaEnrolmentNeedsAccessToken');
    requireScope(who, 'remove:authenticators');
    const removed = await removeFactor(s, who.userId, ctx.params.id!, { ip: requesterIp(ctx), clientId: who.client.clientId });
    if (!removed) throw new SesameError('notFound', { detail: 'Authenticator not found.' });
    ctx.status = 204;
  });

  return router;
}
