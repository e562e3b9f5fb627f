// The passkey part of Authsignal's client API (/v1/client), as @authsignal/browser calls it
// (PROTOCOLS-NEXT C.4): `passkey.signUp({token})` (registration-options, then the new passkey),
// `passkey.signIn({token})` (authentication-options and verify with the track token as bearer) and
// `passkey.signIn({action})` (a usernameless sign-in: /client/challenge, then the same two calls
// with HTTP Basic of the tenant id alone, a public identifier). What each may do is in
// passwordless/action-passkeys.ts.
//
// Ceremony challenges are bound to the action (`action:<decision id>`) or, for a usernameless sign-in,
// to the tenant and the action code (`actions-tenant:<tenant>:<action>`). That sign-in's challengeId
// carries the action code after the handle, so verify knows which action it tracks; changing it
// changes the binding and the challenge no longer answers.
//
// CORS: preflights pass for any origin (they carry no credentials and grant nothing); a real request
// with an Origin must come from the tenant's origins (tenantOrigins) or Sesame's own page, else 403,
// and only those get Access-Control-Allow-Origin. WebAuthn's own origin check stays the boundary.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { decodeJwt } from 'jose';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { check } from '../risk/check.js';
import { PASSKEY_CEREMONIES_PER_IP } from '../risk/limits.js';
import { requesterIp } from '../passwordless/requester-network.js';
import { startAuthentication, type Asker } from '../passwordless/passkeys.js';
import { addPasskeyFor, passkeyChallengeFor, passkeyRegistrationFor, signInForAction, tenantPasskeys, verifyPasskeyFor } from '../passwordless/action-passkeys.js';
import { actionOfToken, bearerOf, clientApiErrors, tenantOrigins, type BearerAction } from './authsignal-common.js';

export type ActionPasskeyApiDeps = Pick<Services, 'config' | 'db' | 'log' | 'provider' | 'cookieKeys'>;

type Body = Record<string, unknown>;

const ACTION_CODE = /^[A-Za-z0-9_.:-]{1,100}$/;
const invalid = (detail: string) => new SesameError('invalidRequest', { detail });
const str = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/** The tenant id of `Authorization: Basic base64(encodeURIComponent(tenantId))` (no colon, no secret). */
function basicTenant(header: string): string | null {
  const encoded = /^Basic ([A-Za-z0-9+/=]{1,400})$/.exec(header)?.[1];
  if (!encoded) return null;
  try {
    const id = decodeURIComponent(Buffer.from(encoded, 'base64').toString('utf8'));
    return id && !id.includes(':') ? id : null;
  } catch {
    return null;
  }
}

/** A serialized credential of the kind named, or invalid_request: garbage never reaches the verifier. */
function credentialOf<T>(raw: unknown, name: string, fields: readonly string[]): T {
  const c = (raw && typeof raw === 'object' ? raw : {}) as Body;
  const r = (c.response && typeof c.response === 'object' ? c.response : {}) as Body;
  if (!str(c.id, 1024) || c.type !== 'public-key' || !fields.every((f) => str(r[f], 16_384))) {
    throw invalid(`${name} must be the credential @simplewebauthn/browser returns (id, type "public-key", response.${fields.join(', response.')}).`);
  }
  return { ...c, rawId: str(c.rawId) ? c.rawId : c.id, clientExtensionResults: c.clientExtensionResults ?? {} } as T;
}

/** A usernameless sign-in's challengeId: the ceremony's handle and the action code. */
const signInChallengeId = (handle: string, action: string) => `${handle}.${Buffer.from(action).toString('base64url')}`;
function parseSignInChallengeId(raw: unknown): { handle: string; action: string } | null {
  const match = typeof raw === 'string' ? /^([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]{1,200})$/.exec(raw) : null;
  const action = match ? Buffer.from(match[2]!, 'base64url').toString('utf8') : '';
  return match && ACTION_CODE.test(action) ? { handle: match[1]!, action } : null;
}

/** What every route of this router does first: CORS, who calls, the ceremony's asker, the limit. */
function callers(s: ActionPasskeyApiDeps) {
  const ownOrigin = new URL(s.config.issuer).origin;

  async function allowedOrigins(tenantId: string): Promise<string[]> {
    return [ownOrigin, ...(await tenantOrigins(s, tenantId))];
  }

  /** Lets the tenant's pages read every answer, errors included (the SDK reads `expired_token`). */
  async function cors(ctx: Context, next: Next) {
    const origin = ctx.get('origin');
    const hint = basicTenant(ctx.get('authorization')) ?? tenantOfUnverified(bearerOf(ctx));
    if (origin && hint && (await allowedOrigins(hint)).includes(origin)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.vary('Origin');
    }
    await next();
  }

  /** Refuses a request whose Origin is not one of the tenant's (checked once the tenant is known). */
  async function checkOrigin(ctx: Context, tenantId: string) {
    const origin = ctx.get('origin');
    if (origin && !(await allowedOrigins(tenantId)).includes(origin)) {
      throw new SesameError('originNotAllowed', { detail: `Origin ${origin} is not allowed for this tenant; add it to the client's web_origins.` });
    }
  }

  /** The caller: the action of a bearer token, or the tenant of HTTP Basic; with its ceremony asker. */
  async function caller(ctx: Context, kinds: ('track' | 'result')[]): Promise<{ action: BearerAction | null; tenantId: string }> {
    const token = bearerOf(ctx);
    const basic = token ? null : basicTenant(ctx.get('authorization'));
    if (!token && !basic) throw new SesameError('actionsTokenNotSet');
    const action = token ? await actionOfToken(s, token, kinds) : null;
    const tenantId = action ? action.claims.tenantId : basic!;
    if (!action && !(await s.provider.Client.find(tenantId).catch(() => undefined))) throw new SesameError('actionsUnauthorized');
    await checkOrigin(ctx, tenantId);
    return { action, tenantId };
  }

  async function asker(ctx: Context, tenantId: string, boundTo: string): Promise<Asker> {
    const origins = await tenantOrigins(s, tenantId);
    return { boundTo, origins, clientId: tenantId, ip: requesterIp(ctx), userAgent: ctx.get('user-agent').slice(0, 500) || null, appUsers: true };
  }

  /** Each options answer stores a challenge row: one address may not fill the table. */
  async function limit(ctx: Context) {
    const decision = await check(s.db, PASSKEY_CEREMONIES_PER_IP, [requesterIp(ctx)], undefined);
    if (decision.kind !== 'allow') throw tooManyRequests(decision.retryAfter, `Too many passkey requests; wait ${decision.retryAfter} s.`);
  }

  return { cors, caller, asker, limit };
}

type Callers = ReturnType<typeof callers>;
type Deps = ActionPasskeyApiDeps & { issuer: string };

export function actionPasskeyRouter(s: ActionPasskeyApiDeps): Router {
  const router = new Router({ prefix: '/v1/client' });
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: '32kb' });
  const deps = { ...s, issuer: s.config.issuer };
  const c = callers(s);
  const { cors, caller, asker, limit } = c;

  const paths = [
    '/challenge',
    '/user-authenticators/passkey',
    '/user-authenticators/passkey/registration-options',
    '/user-authenticators/passkey/authentication-options',
    '/verify/passkey',
  ];
  for (const path of paths) router.options(path, preflight);
  const pre = [clientApiErrors, cors, parse] as const;

  router.post('/user-authenticators/passkey/registration-options', ...pre, async function actionPasskeyRegistrationOptions(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    const { action, tenantId } = await caller(ctx, ['track', 'result']);
    if (!action) throw new SesameError('actionsTokenNotSet');
    if (body.username !== undefined && !str(body.username, 200)) throw invalid('username must be a string of at most 200 characters.');
    await limit(ctx);
    const bound = await asker(ctx, tenantId, `action:${action.row.id}`);
    ctx.body = await passkeyRegistrationFor(deps, action, bound, body.username as string | undefined);
  });

  router.post('/user-authenticators/passkey', ...pre, async function actionPasskeyAdd(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    const { action, tenantId } = await caller(ctx, ['track', 'result']);
    if (!action) throw new SesameError('actionsTokenNotSet');
    if (!str(body.challengeId, 200)) throw invalid('challengeId is required.');
    const credential = credentialOf<RegistrationResponseJSON>(body.registrationCredential, 'registrationCredential', ['clientDataJSON', 'attestationObject']);
    ctx.body = await addPasskeyFor(deps, action, body.challengeId, credential, await asker(ctx, tenantId, `action:${action.row.id}`));
  });

  router.post('/challenge', ...pre, async function actionPasskeySignInChallenge(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    if (bearerOf(ctx)) throw invalid('A usernameless challenge takes the tenant id (HTTP Basic), not a token.');
    await caller(ctx, []);
    if (!str(body.action, 100) || !ACTION_CODE.test(body.action)) throw invalid('action is required: letters, digits and _ . : - (at most 100).');
    // Nothing is stored yet: the ceremony's challenge is made by authentication-options.
    ctx.body = { challengeId: signInChallengeId('start', body.action) };
  });

  router.post('/user-authenticators/passkey/authentication-options', ...pre, (ctx) => authenticationOptions(deps, c, ctx));
  router.post('/verify/passkey', ...pre, (ctx) => verify(deps, c, ctx));
  // The SDK's isAvailableOnDevice reads only whether the answer is OK: 404 when none is left.
  router.get('/user-authenticators/passkey', clientApiErrors, cors, async function actionPasskeysOnDevice(ctx) {
    if (bearerOf(ctx)) throw invalid('This takes the tenant id (HTTP Basic), not a token.');
    const { tenantId } = await caller(ctx, []);
    const ids = typeof ctx.query.credentialIds === 'string' ? ctx.query.credentialIds.split(',').filter(Boolean) : [];
    if (ids.length === 0 || ids.length > 20 || ids.some((id) => id.length > 1024)) throw invalid('credentialIds: 1 to 20 credential ids, separated by commas.');
    const found = await tenantPasskeys(s.db, tenantId, ids);
    if (found.length === 0) throw new SesameError('notFound', { detail: 'None of these passkeys is registered.' });
    ctx.body = found;
  });

  return router;
}

function preflight(ctx: Context) {
  ctx.status = 204;
  const origin = ctx.get('origin');
  if (!origin) return;
  ctx.set('Access-Control-Allow-Origin', origin);
  ctx.set('Access-Control-Allow-Methods', 'POST, GET, OPTIONS');
  ctx.set('Access-Control-Allow-Headers', 'authorization, content-type');
  ctx.set('Access-Control-Max-Age', '600');
  ctx.vary('Origin');
}

/** The tenant a token says it is for, unverified: used only to let the tenant's page read an error. */
function tenantOfUnverified(token: string | undefined): string | null {
  if (!token) return null;
  try {
    const aud = decodeJwt(token).aud;
    return typeof aud === 'string' ? aud : null;
  } catch {
    return null;
  }
}

/** Options to pass the action's challenge (bearer), or of a usernameless sign-in (Basic, after /challenge). */
async function authenticationOptions(deps: Deps, { caller, asker, limit }: Callers, ctx: Context) {
  const body = (ctx.request.body ?? {}) as Body;
  const { action, tenantId } = await caller(ctx, ['track']);
  if (action) {
    await limit(ctx);
    ctx.body = await passkeyChallengeFor(deps, action, await asker(ctx, tenantId, `action:${action.row.id}`));
    return;
  }
  const started = parseSignInChallengeId(body.challengeId);
  if (!started) throw invalid('Without a token, pass the challengeId of POST /client/challenge {action}.');
  await limit(ctx);
  const { handle, options } = await startAuthentication(deps, await asker(ctx, tenantId, `actions-tenant:${tenantId}:${started.action}`));
  ctx.body = { challengeId: signInChallengeId(handle, started.action), options };
}

/** The assertion: passes the bearer's action, or signs the tenant's user in for a new action. */
async function verify(deps: Deps, { caller, asker }: Callers, ctx: Context) {
  const body = (ctx.request.body ?? {}) as Body;
  const { action, tenantId } = await caller(ctx, ['track']);
  const credential = credentialOf<AuthenticationResponseJSON>(body.authenticationCredential, 'authenticationCredential', ['clientDataJSON', 'authenticatorData', 'signature']);
  if (action) {
    if (!str(body.challengeId, 200)) throw invalid('challengeId is required.');
    ctx.body = await verifyPasskeyFor(deps, action, body.challengeId, credential, await asker(ctx, tenantId, `action:${action.row.id}`));
    return;
  }
  const started = parseSignInChallengeId(body.challengeId);
  if (!started) throw invalid('challengeId is required: the one authentication-options returned.');
  const deviceId = str(body.deviceId, 200) ? body.deviceId : null;
  const bound = await asker(ctx, tenantId, `actions-tenant:${tenantId}:${started.action}`);
  const req = { tenantId, actionCode: started.action, ip: bound.ip!, userAgent: bound.userAgent, deviceId };
  ctx.body = await signInForAction(deps, req, started.handle, credential, bound);
}
