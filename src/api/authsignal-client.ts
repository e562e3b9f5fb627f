// The code methods of Authsignal's browser client API under /v1/client, as @authsignal/browser
// calls them (PROTOCOLS-NEXT C.4): email and SMS codes (enrol, challenge, verify) and the
// authenticator app (enrol, verify, recovery codes with a first factor), for the action the bearer
// track token names; the wrong code that spends a challenge's last attempt fails the action. Always JSON,
// errors included (the SDK parses every reply and treats only an `error` key as a failure). Called
// cross-origin from the app: the tenant's origins may read the answers, no other.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { noStore } from '../http/middleware.js';
import {
  challengeIdOfDecision,
  challengeState,
  pendingTotpId,
  sendChallengeCode,
  startTotpEnrolment,
  verifyChallengeCode,
  type CodeMethod,
  type OobMethod,
  type SendOutcome,
} from '../passwordless/action-challenges.js';
import type { Requester } from '../passwordless/one-time-codes.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { actionOfToken, bearerOf, clientApiErrors, tenantOrigins, type BearerAction } from './authsignal-common.js';

/** The client API's path of each code method. */
const PATHS: Record<string, OobMethod> = { 'email-otp': 'EMAIL_OTP', sms: 'SMS' };

/**
 * CORS: a preflight carries no token, so it is answered for any origin (it reveals nothing); the
 * request itself is refused unless it comes from one of its tenant's origins. Error bodies are
 * readable by the caller (they say nothing of the action), so the SDK sees e.g. `expired_token`.
 */
async function cors(ctx: Context, next: Next) {
  const origin = ctx.get('origin');
  if (ctx.method === 'OPTIONS') {
    ctx.status = 204;
    if (!origin) return;
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    ctx.set('Access-Control-Allow-Headers', 'authorization, content-type');
    ctx.set('Access-Control-Max-Age', '600');
    ctx.vary('Origin');
    return;
  }
  await next();
  const body = ctx.body as Record<string, unknown> | undefined;
  if (origin && body && typeof body === 'object' && 'error' in body && !ctx.response.get('Access-Control-Allow-Origin')) {
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.vary('Origin');
  }
}

/** The action of the bearer token, once its origin (if any) is one of the tenant's. */
async function actionOf(s: Services, ctx: Context): Promise<BearerAction> {
  const action = await actionOfToken(s, bearerOf(ctx), ['track', 'result']);
  const origin = ctx.get('origin');
  if (origin) {
    if (!(await tenantOrigins(s, action.row.tenantId)).includes(origin)) {
      throw new SesameError('originNotAllowed', { detail: `Origin ${origin} is not one of this application's origins.` });
    }
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.vary('Origin');
  }
  return action;
}

function who(s: Services, ctx: Context, a: BearerAction): Requester {
  const locale = negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
  return { ip: ctx.ip, clientId: a.row.tenantId, locale, userAgent: ctx.get('user-agent').slice(0, 300) };
}

function refused(reason: 'closed' | 'method' | 'address'): SesameError {
  const detail = {
    closed: 'The action is not waiting for a challenge.',
    method: 'This verification method is not available for this action.',
    address: 'Codes for this action can only go to the address given to track.',
  }[reason];
  return new SesameError('badRequest', { detail });
}

function sendFailed(sent: Exclude<SendOutcome, { ok: true }>): SesameError {
  if ('refused' in sent) return refused(sent.refused);
  if (sent.reason === 'cooldown' || sent.reason === 'identifier' || sent.reason === 'ip' || sent.reason === 'client' || sent.reason === 'slowed') {
    return tooManyRequests(sent.retryAfter, 'Too many codes were sent. Wait before asking for another.');
  }
  return new SesameError('badRequest', { detail: 'A code cannot be sent to this number.' });
}

/** POST /challenge/{email-otp|sms}: a code to the user's enrolled address or number. */
async function challenge(s: Services, ctx: Context, method: OobMethod) {
  const a = await actionOf(s, ctx);
  const sent = await sendChallengeCode(s, a.row, method, who(s, ctx, a));
  if (!sent.ok) throw sendFailed(sent);
  ctx.body = { challengeId: challengeIdOfDecision(a.row) };
}

/** POST /user-authenticators/{email-otp|sms}: enrols the address (proved by the code sent to it). */
async function enrol(s: Services, ctx: Context, method: OobMethod) {
  const a = await actionOf(s, ctx);
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const given = method === 'EMAIL_OTP' ? body.email : body.phoneNumber;
  if (given !== undefined && (typeof given !== 'string' || given.length > 320)) throw new SesameError('badRequest', { detail: 'The address is not valid.' });
  const sent = await sendChallengeCode(s, a.row, method, who(s, ctx, a), given);
  if (!sent.ok) throw sendFailed(sent);
  ctx.body = { userAuthenticatorId: sent.authenticatorId, userId: a.row.userId };
}

/** POST /verify/{email-otp|sms|totp} `{verificationCode}`: Authsignal's verify answer; right, the result token. */
async function verify(s: Services, ctx: Context, method: CodeMethod) {
  const a = await actionOf(s, ctx);
  const code = ((ctx.request.body ?? {}) as Record<string, unknown>).verificationCode;
  if (typeof code !== 'string' || !code.trim()) throw new SesameError('badRequest', { detail: 'verificationCode is required.' });
  let confirming: string | undefined;
  if (method === 'AUTHENTICATOR_APP' && !(await challengeState(s, a.row)).usable.includes('AUTHENTICATOR_APP')) confirming = await pendingTotpId(s, a.row);
  const outcome = await verifyChallengeCode(s, a.row, method, code, who(s, ctx, a), confirming);
  if (outcome.ok) {
    // An authenticator app enrolled as the user's first factor brings recovery codes, in this answer only.
    ctx.body = { isVerified: true, accessToken: outcome.token, ...(outcome.recoveryCodes && { recoveryCodes: outcome.recoveryCodes }) };
    return;
  }
  if ('refused' in outcome) throw refused(outcome.refused);
  if (outcome.reason === 'delayed') throw tooManyRequests(outcome.retryAfter ?? 1, 'Too many wrong codes. Wait before trying again.');
  if (outcome.reason === 'lost') throw refused('closed');
  // The wrong code that spent the challenge's last attempt failed the action (CHALLENGE_FAILED), as Authsignal's MAX_ATTEMPTS_EXCEEDED.
  ctx.body = { isVerified: false, failureReason: outcome.reason === 'failed' || outcome.reason === 'exhausted' ? 'MAX_ATTEMPTS_EXCEEDED' : 'CODE_INVALID_OR_EXPIRED' };
}

/** POST /user-authenticators/totp: a new authenticator app to set up (a user with none of the allowed methods). */
async function enrolTotp(s: Services, ctx: Context) {
  const a = await actionOf(s, ctx);
  const started = await startTotpEnrolment(s, a.row);
  if ('refused' in started) throw refused(started.refused);
  ctx.body = { userAuthenticatorId: started.authenticatorId, userId: a.row.userId, uri: started.otpauthUri, secret: started.secret };
}

export function actionClientRouter(s: Services): Router {
  const router = new Router({ prefix: '/v1/client' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' });
  router.use(cors, clientApiErrors, noStore);
  const routes: Array<[string, (ctx: Context) => Promise<void>]> = [
    ...Object.entries(PATHS).flatMap(([path, method]): Array<[string, (ctx: Context) => Promise<void>]> => [
      [`/challenge/${path}`, (ctx) => challenge(s, ctx, method)],
      [`/user-authenticators/${path}`, (ctx) => enrol(s, ctx, method)],
      [`/verify/${path}`, (ctx) => verify(s, ctx, method)],
    ]),
    ['/user-authenticators/totp', (ctx) => enrolTotp(s, ctx)],
    ['/verify/totp', (ctx) => verify(s, ctx, 'AUTHENTICATOR_APP')],
  ];
  for (const [path, handler] of routes) {
    // The preflight itself is answered by cors(); the route only makes the router run it.
    router.options(path, () => undefined);
    router.post(path, json, handler);
  }
  return router;
}
