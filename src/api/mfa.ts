// Auth0's MFA API, so apps on @auth0/auth0-auth-js (`mfa.*`), @auth0/auth0-spa-js and nextjs-auth0
// work unchanged: GET /mfa/authenticators, POST /mfa/associate, POST /mfa/challenge, DELETE
// /mfa/authenticators/:id. The second factor itself is redeemed at the token endpoint (oidc/grants/mfa.ts).
// Who calls: the bearer is an mfa_token (from the first factor alone) or an access token for the
// MFA API audience `<issuer>/mfa/` (issued only after a second factor, oidc/resources.ts). An
// mfa_token may list factors and enrol the FIRST one; it never adds a factor to a user who has one,
// nor removes one: that takes an access token (scope enroll, remove:authenticators), or someone
// holding only the first factor could plant their own authenticator app and pass MFA with it.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError, smsRefusal } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { negotiateLocale } from '../i18n/i18n.js';
import type { FactorType } from '../config/mfa.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import { listFactors, removeFactor, type Factor } from '../passwordless/mfa/factors.js';
import { enrolOob, sendFactorCode, type OobFactor } from '../passwordless/mfa/oob.js';
import { newChallengeId, sealOobCode } from '../passwordless/mfa/oob-codes.js';
import { challengeableFactors, mfaNeed, offeredFactorTypes } from '../passwordless/mfa/policy.js';
import { generateRecoveryCodes } from '../passwordless/mfa/recovery-codes.js';
import { enrolTotp } from '../passwordless/mfa/totp.js';
import { mfaTokenDigest, readMfaToken, type PendingSignIn } from '../passwordless/mfa/tokens.js';
import { requesterIp } from '../passwordless/requester-network.js';
import { clientMfaPolicy, trustsForwardedFor, type Client } from '../oidc/client-metadata.js';
import { grantTypes as MFA_GRANTS } from '../oidc/grants/mfa.js';
import { mfaAudience } from '../oidc/resources.js';
import { findUserById } from '../storage/users.js';
import { authenticateClient } from './client-auth.js';
import { corsFor } from './cors.js';

export type MfaApiDeps = Pick<Services, 'provider' | 'config' | 'db' | 'keyring' | 'mfaKeyring' | 'log' | 'renderer' | 'wakeWorker'>;

type Body = Record<string, unknown>;

/** Who called: the user, the client the token was issued to, and by which token. */
type Caller =
  { via: 'mfa_token'; userId: string; client: Client; signIn: PendingSignIn; token: string } | { via: 'access_token'; userId: string; client: Client; scopes: Set<string> };

/** A factor as Auth0 lists it: `type` always (spa-js filters by it), both oob_channel (Docs) and oob_channels (auth-js). */
function listed(f: Factor): Record<string, unknown> {
  const base = { id: f.id, active: true };
  if (f.type === 'totp') return { ...base, authenticator_type: 'otp', type: 'otp' };
  if (f.type === 'email') return { ...base, authenticator_type: 'oob', oob_channel: 'email', oob_channels: ['email'], name: maskEmail(f.email ?? ''), type: 'email' };
  if (f.type === 'sms') return { ...base, authenticator_type: 'oob', oob_channel: 'sms', oob_channels: ['sms'], name: maskPhone(f.phoneNumber ?? ''), type: 'phone' };
  return { ...base, authenticator_type: 'recovery-code', type: 'recovery-code' };
}

// Masked as Auth0 masks numbers: an mfa_token comes from the first factor alone, and the holder
// need not learn the second factor's address to pick it.
const maskPhone = (phone: string) => `+X XXXX${phone.slice(-4)}`;
const maskEmail = (email: string) => email.replace(/^(.)[^@]*@/, '$1***@');

/** The factor type an associate body asks for (Auth0's authenticator_types and oob_channels). */
function requestedType(body: Body): Exclude<FactorType, 'passkey' | 'recovery-code'> {
  const types = body.authenticator_types;
  const channels = Array.isArray(body.oob_channels) ? body.oob_channels : [];
  if (!Array.isArray(types) || types.length !== 1) throw new SesameError('invalidRequest', { detail: 'authenticator_types must name one type: ["otp"] or ["oob"].' });
  if (types[0] === 'otp') return 'totp';
  if (types[0] === 'oob' && channels.length === 1 && (channels[0] === 'sms' || channels[0] === 'email')) return channels[0];
  throw new SesameError('invalidRequest', { detail: 'Supported: authenticator_types ["otp"], or ["oob"] with oob_channels ["sms"] or ["email"].' });
}

export function mfaRouter(s: MfaApiDeps): Router {
  const router = new Router({ prefix: '/mfa' });
  const parse = bodyParser({ enableTypes: ['json', 'form'], jsonLimit: '16kb' });
  const audience = mfaAudience(s.config.issuer);
  const issuerBase = s.config.issuer.replace(/\/$/, '');
  const clientAudiences = [s.config.issuer, `${issuerBase}/`, `${issuerBase}/oauth/token`];
  const cors = corsFor(s, 'GET, POST, DELETE, OPTIONS');
  const challenge = { 'WWW-Authenticate': `Bearer realm="${audience}"` };
  const invalidToken = (detail: string) => new SesameError('invalidToken', { detail, headers: challenge });

  /** The bearer: an MFA API access token (an opaque row) or an mfa_token; its client's web origins for CORS. */
  async function caller(ctx: Context): Promise<Caller> {
    const [scheme, value] = ctx.get('authorization').split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !value) throw invalidToken('A bearer token is required: an mfa_token, or an access token for the MFA API.');
    const accessToken = await s.provider.AccessToken.find(value).catch(() => undefined);
    if (accessToken) {
      if (accessToken.aud !== audience || !accessToken.accountId) throw invalidToken('The access token is not for the MFA API.');
      // A sender-constrained token needs its proof, which this API does not take.
      if (accessToken.jkt || accessToken['x5t#S256']) throw invalidToken('Sender-constrained access tokens are not accepted here.');
      const client = await clientOf(ctx, accessToken.clientId!);
      return { via: 'access_token', userId: accessToken.accountId, client, scopes: new Set((accessToken.scope ?? '').split(' ')) };
    }
    const read = await readMfaToken(s, value, null);
    if (!read.ok) throw invalidToken(read.reason === 'expired' ? 'mfa_token is expired' : 'The token is not valid: unknown, spent or expired.');
    const client = await clientOf(ctx, read.signIn.clientId);
    return { via: 'mfa_token', userId: read.signIn.userId, client, signIn: read.signIn, token: value };
  }

  /** The client a token was issued to, still there; the browser's origin must be one of its web origins. */
  async function clientOf(ctx: Context, clientId: string): Promise<Client> {
    const client = await s.provider.Client.find(clientId).catch(() => undefined);
    if (!client) throw invalidToken('The token is not valid: its client is gone.');
    await cors.checkActualOrigin(ctx, client);
    return client;
  }

  function requireScope(who: Caller, scope: string): void {
    if (who.via === 'access_token' && !who.scopes.has(scope)) throw new SesameError('insufficientScope', { detail: `The access token lacks the ${scope} scope.` });
  }

  function requester(ctx: Context, clientId: string, trusted: boolean) {
    const locale = negotiateLocale(undefined, ctx.get('x-request-language') || ctx.get('accept-language'), s.config.ui.defaultLocale);
    return { ip: requesterIp(ctx, trusted), clientId, locale };
  }

  /** Sends a code to `factor` for a new challenge and returns its oob_code (bound to `mfaToken` when one asked). */
  async function sendOob(ctx: Context, factor: OobFactor, userId: string, clientId: string, mfaToken: string | null, trusted: boolean): Promise<string> {
    const challengeId = newChallengeId();
    const sent = await sendFactorCode(s, challengeId, factor, requester(ctx, clientId, trusted));
    if (!sent.ok) {
      const refusal = smsRefusal(sent.reason);
      if (refusal) throw new SesameError(refusal);
      throw tooManyRequests(sent.retryAfter, `Too many requests; wait ${sent.retryAfter} s before asking for another code.`);
    }
    const expiresAt = Date.now() + s.config.mfa.tokenTtl * 1000;
    return sealOobCode(s.mfaKeyring, { challengeId, authenticatorId: factor.id, userId, clientId, mfaToken: mfaToken && mfaTokenDigest(mfaToken), expiresAt });
  }

  /** The types the caller may enrol: with an mfa_token only a first factor (none confirmed yet), of another kind than the first. */
  async function enrollable(who: Caller): Promise<FactorType[]> {
    if (who.via === 'access_token') {
      requireScope(who, 'enroll');
      return offeredFactorTypes(s.config);
    }
    const factors = await listFactors(s, who.userId);
    const policy = clientMfaPolicy(who.client.metadata());
    const need = await mfaNeed(s.config, s.db, { userId: who.userId, amr: who.signIn.amr, clientPolicy: policy, requested: true });
    if (need.kind !== 'enroll' || factors.some((f) => f.confirmed && f.type !== 'recovery-code')) throw new SesameError('mfaEnrolmentNeedsAccessToken');
    return need.types;
  }

  for (const path of ['/authenticators', '/authenticators/:id', '/associate', '/challenge']) router.options(path, cors.preflight);

  router.get('/authenticators', async function listAuthenticators(ctx) {
    const who = await caller(ctx);
    requireScope(who, 'read:authenticators');
    ctx.body = (await listFactors(s, who.userId)).filter((f) => f.confirmed).map(listed);
  });

  router.post('/associate', parse, async function associate(ctx) {
    const who = await caller(ctx);
    const body = (ctx.request.body ?? {}) as Body;
    const type = requestedType(body);
    if (!(await enrollable(who)).includes(type)) throw new SesameError('invalidRequest', { detail: `This authenticator type cannot be enrolled here.` });
    const first = who.via === 'mfa_token';
    const recoveryCodes = async () => (first && s.config.mfa.factors.includes('recovery-code') ? { recovery_codes: (await generateRecoveryCodes(s, who.userId)).codes } : {});
    const enrolled = (err: unknown) => {
      throw err instanceof SesameError && err.kind === 'conflict' ? new SesameError('mfaAlreadyEnrolled') : err;
    };
    if (type === 'totp') {
      const enrolment = await enrolTotp(s, who.userId).catch(enrolled);
      ctx.body = { authenticator_type: 'otp', secret: enrolment.secret, barcode_uri: enrolment.otpauthUri, ...(await recoveryCodes()) };
      return;
    }
    let to: { type: 'email'; email: string } | { type: 'sms'; phoneNumber: string };
    if (type === 'sms') {
      const phone = parsePhone(body.phone_number);
      if (!phone) throw new SesameError('auth0BadPhone');
      to = { type, phoneNumber: phone.e164 };
    } else {
      const email = normalizeEmail(body.email ?? (await findUserById(s.db, who.userId))?.email);
      if (!email) throw new SesameError('auth0BadEmail');
      to = { type, email };
    }
    const factor = await enrolOob(s, who.userId, to).catch(enrolled);
    const oobCode = await sendOob(ctx, factor, who.userId, who.client.clientId, first ? who.token : null, false);
    ctx.body = { authenticator_type: 'oob', binding_method: 'prompt', oob_channel: type, oob_code: oobCode, ...(await recoveryCodes()) };
  });

  router.post('/challenge', parse, async function challengeAuthenticator(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    const { client, confidential } = await authenticateClient(s.provider, s.db, ctx, body, clientAudiences);
    await cors.checkActualOrigin(ctx, client);
    if (!MFA_GRANTS.some((g) => client.grantTypeAllowed(g))) throw new SesameError('unauthorizedClient', { detail: 'The client may not use the MFA grants.' });
    const read = await readMfaToken(s, body.mfa_token, client.clientId);
    if (!read.ok) throw new SesameError(read.reason === 'expired' ? 'mfaExpiredToken' : 'mfaMalformedToken');
    const { signIn } = read;
    const types = typeof body.challenge_type === 'string' ? body.challenge_type.split(' ').filter(Boolean) : [];
    if (types.length === 0 || types.some((t) => t !== 'otp' && t !== 'oob')) {
      throw new SesameError('invalidRequest', { detail: 'challenge_type must be "otp" or "oob".' });
    }
    const wanted = typeof body.authenticator_id === 'string' ? body.authenticator_id : undefined;
    // Only factors of another kind than the first factor count (policy.ts).
    const factors = (await challengeableFactors(s.config, s.db, signIn.userId, signIn.amr)).filter((f): f is Factor => f.id !== 'passkey' && (!wanted || f.id === wanted));
    for (const type of types) {
      if (type === 'otp' && factors.some((f) => f.type === 'totp')) {
        ctx.body = { challenge_type: 'otp' };
        return;
      }
      const oob = type === 'oob' && factors.find((f) => f.type === 'email' || f.type === 'sms');
      if (oob) {
        const trusted = confidential && trustsForwardedFor(client.metadata());
        ctx.body = {
          challenge_type: 'oob',
          oob_code: await sendOob(ctx, { ...oob, type: oob.type }, signIn.userId, client.clientId, body.mfa_token as string, trusted),
          binding_method: 'prompt',
        };
        return;
      }
    }
    const enrolled = (await listFactors(s, signIn.userId)).some((f) => f.confirmed && f.type !== 'recovery-code');
    throw new SesameError(enrolled ? 'mfaUnsupportedChallenge' : 'mfaAssociationRequired');
  });

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
