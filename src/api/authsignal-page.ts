// The pre-built challenge page of tracked actions, /v1/ui?token=<track token>[&mode=popup] (what
// Authsignal's hosted UI is to its SDKs): the user passes the challenge with a method the rule
// allows and they have (default first), or enrols one when they have none. Forms post back (no
// JavaScript needed) carrying the token and a CSRF value derived from it: in popup mode the page
// is a cross-site iframe, so no cookies. Success ends in authsignal-page-view.ts finishWith:
// redirect to the app or, in popup mode, the result token handed to the app's window.
// /v1/ui/done?token=<result> renders that end for a passed challenge (the passkey script goes there,
// and so does the page of recovery codes an authenticator app set up as the first factor brings).
// The wrong code that spends the challenge's last attempt fails it: failedPage says so and hands
// the app its track token, which validates as CHALLENGE_FAILED.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { noStore } from '../http/middleware.js';
import { relyingParty } from '../config/passkeys.js';
import { sendCooldownLeft } from '../passwordless/throttle.js';
import { throttlePolicy } from '../passwordless/one-time-codes.js';
import { findLiveCode } from '../storage/codes.js';
import { findDecisionById } from '../storage/action-decisions.js';
import { mfaFlowKey } from '../passwordless/flows.js';
import { pendingTotpEnrolment } from '../passwordless/mfa/totp.js';
import {
  challengeIdOfDecision,
  challengeState,
  sendChallengeCode,
  startTotpEnrolment,
  verifyChallengeCode,
  type ChallengeState,
  type CodeMethod,
  type OobMethod,
  type SendOutcome,
  type VerifyOutcome,
} from '../passwordless/action-challenges.js';
import type { VerificationMethod } from '../config/actions.js';
import { maskEmail, maskPhone } from '../interactions/mfa-challenge.js';
import { sendRefusal } from '../interactions/code-steps.js';
import {
  failedPage,
  fieldsOf,
  finishWith,
  loadAction,
  message,
  pageCsrf,
  pageUrl,
  recoveryPage,
  redirectTarget,
  requesterOf,
  requireFormCsrf,
  show,
  type PageAction,
} from './authsignal-page-view.js';

/** The MFA pages' name of each method: their translations (mfa.lead.*, mfa.label.*, mfa.use.*) serve here too. */
const TYPE_OF: Record<VerificationMethod, string> = {
  EMAIL_OTP: 'email',
  SMS: 'sms',
  AUTHENTICATOR_APP: 'totp',
  RECOVERY_CODE: 'recovery-code',
  PASSKEY: 'passkey',
  EMAIL_MAGIC_LINK: 'email',
};
const CODE_METHODS: readonly string[] = ['EMAIL_OTP', 'SMS', 'AUTHENTICATOR_APP', 'RECOVERY_CODE'];
const isOob = (m: string): m is OobMethod => m === 'EMAIL_OTP' || m === 'SMS';

/** Why a code was refused, as the page says it. */
const REFUSED: Record<string, string> = {
  replayed: 'mfa.replayed',
  expired: 'code.expired',
  exhausted: 'code.exhausted',
  missing: 'mfa.no_code',
  used: 'mfa.no_code',
  not_enrolled: 'mfa.gone',
};

/** The methods the page offers: not magic links (no page of theirs yet), nor passkeys where they cannot work (an IP-address issuer). */
function offeredOf(s: Services, state: ChallengeState): VerificationMethod[] {
  const passkeys = relyingParty(s.config) !== null;
  return [...new Set([...state.usable, ...state.enrollable])].filter((m) => m !== 'EMAIL_MAGIC_LINK' && (passkeys || m !== 'PASSKEY'));
}

function addressOf(state: ChallengeState, method: string): string | null {
  return method === 'EMAIL_OTP' ? state.email : method === 'SMS' ? state.phoneNumber : null;
}

function masked(state: ChallengeState, method: string): string {
  const address = addressOf(state, method);
  if (!address) return '';
  return method === 'EMAIL_OTP' ? maskEmail(address) : maskPhone(address);
}

/**
 * The page for `wanted` (else the default method): a code form, a "send a code" form while
 * enrolling, the authenticator-app set-up, or the passkey section; with the other methods to switch to.
 */
async function page(s: Services, ctx: Context, a: PageAction, wanted: unknown, locals: Record<string, unknown> = {}, status = 200) {
  if (a.row.state === 'CHALLENGE_FAILED') return failedPage(s, ctx, a, 409);
  if (a.row.state !== 'CHALLENGE_REQUIRED') return message(s, ctx, a.locale, a.row.state === 'CHALLENGE_SUCCEEDED' ? 'action.already_done' : 'action.closed', 409);
  if (a.mode === 'redirect' && redirectTarget(a).refused) return message(s, ctx, a.locale, 'action.bad_redirect', 400);
  const state = await challengeState(s, a.row);
  const offered = offeredOf(s, state);
  if (offered.length === 0) return message(s, ctx, a.locale, 'action.no_method', 409);
  const method = offered.find((m) => m === wanted) ?? offered[0]!;
  const enrolling = !state.usable.includes(method);
  const address = addressOf(state, method);
  const live = isOob(method) ? await findLiveCode(s.db, mfaFlowKey(challengeIdOfDecision(a.row))) : null;
  const codeSent = Boolean(address && live?.identifier === address);
  const view = method === 'PASSKEY' ? 'passkey' : isOob(method) && enrolling && !codeSent ? 'send' : method === 'AUTHENTICATOR_APP' && enrolling ? 'totp-start' : 'code';
  const resendIn = address ? await sendCooldownLeft(s.db, throttlePolicy(s.config), address, requesterOf(ctx, a)) : 0;
  await show(
    s,
    ctx,
    a.locale,
    'action-challenge',
    {
      view,
      method,
      type: TYPE_OF[method],
      enrolling,
      masked: masked(state, method),
      hasAddress: Boolean(address),
      others: offered.filter((m) => m !== method).map((m) => ({ href: pageUrl(a, { method: m }), type: TYPE_OF[m], masked: masked(state, m), enrol: !state.usable.includes(m) })),
      resendIn,
      ...form(s, a),
      ...locals,
    },
    status,
  );
}

/** What every form and script of the page carries. */
function form(s: Services, a: PageAction) {
  return { token: a.token, mode: a.mode, csrf: pageCsrf(s, a), popup: a.mode === 'popup', origins: a.origins };
}

/** A code send refused, as the page's error (and status): the action's own refusals, else the factor pages' wording. */
function sendProblem(ctx: Context, sent: Exclude<SendOutcome, { ok: true }>): { error: string; status: number; retryAfter?: number } {
  if ('refused' in sent) return { error: sent.refused === 'address' ? 'action.address' : 'mfaEnrol.not_offered', status: 400 };
  return sendRefusal(ctx, sent);
}

/** GET: the page; an enrolled email or SMS factor without a code of this action on its way gets one. */
async function showPage(s: Services, ctx: Context) {
  const a = await loadAction(s, ctx);
  if (!a) return;
  const wanted = ctx.query.method;
  const state = a.row.state === 'CHALLENGE_REQUIRED' ? await challengeState(s, a.row) : null;
  const method = state ? (offeredOf(s, state).find((m) => m === wanted) ?? offeredOf(s, state)[0]) : undefined;
  if (state && method && isOob(method) && state.usable.includes(method)) {
    const live = await findLiveCode(s.db, mfaFlowKey(challengeIdOfDecision(a.row)));
    if (live?.identifier !== addressOf(state, method)) {
      const sent = await sendChallengeCode(s, a.row, method, requesterOf(ctx, a));
      if (!sent.ok) {
        const { error, status, retryAfter } = sendProblem(ctx, sent);
        return page(s, ctx, a, method, { error, retryAfter: retryAfter ?? null }, status);
      }
    }
  }
  return page(s, ctx, a, method, { notice: ctx.query.sent ? 'mfa.sent_again' : null });
}

/** POST /send: a (new) code by email or SMS; enrolling, to the address given to track or typed. */
async function send(s: Services, ctx: Context) {
  const a = await loadAction(s, ctx);
  if (!a) return;
  requireFormCsrf(s, a, ctx);
  const body = fieldsOf(ctx);
  const method = body.method;
  if (!isOob(String(method))) return page(s, ctx, a, method, { error: 'mfaEnrol.not_offered' }, 400);
  const address = typeof body.address === 'string' && body.address.trim() ? body.address.slice(0, 320) : undefined;
  const sent = await sendChallengeCode(s, a.row, method as OobMethod, requesterOf(ctx, a), address);
  if (!sent.ok) {
    if ('refused' in sent && sent.refused === 'closed') return page(s, ctx, a, method);
    const { error, status, retryAfter } = sendProblem(ctx, sent);
    return page(s, ctx, a, method, { error, retryAfter: retryAfter ?? null }, status);
  }
  ctx.status = 303;
  ctx.redirect(pageUrl(a, { method: String(method), sent: '1' }));
}

/** The page's error for a code refused. */
function codeError(method: CodeMethod, outcome: Exclude<VerifyOutcome, { ok: true }>, enrolling: boolean): string {
  if ('refused' in outcome) return outcome.refused === 'address' ? 'action.address' : 'mfaEnrol.not_offered';
  if (outcome.reason === 'wrong') {
    if (isOob(method)) return outcome.attemptsLeft === undefined ? 'mfa.no_code' : 'mfa.code_wrong';
    if (method === 'RECOVERY_CODE') return 'mfa.recovery_wrong';
    return enrolling ? 'mfaEnrol.totp_wrong' : 'mfa.wrong';
  }
  return REFUSED[outcome.reason] ?? 'mfa.no_code';
}

/** POST /verify: a code for the method on the page; right, the challenge is passed and the page finishes. */
async function verify(s: Services, ctx: Context) {
  const a = await loadAction(s, ctx);
  if (!a) return;
  requireFormCsrf(s, a, ctx);
  const body = fieldsOf(ctx);
  const method = String(body.method);
  if (!CODE_METHODS.includes(method)) return page(s, ctx, a, method, { error: 'mfaEnrol.not_offered' }, 400);
  const confirming = typeof body.confirming === 'string' && body.confirming.length <= 200 ? body.confirming : undefined;
  const code = typeof body.code === 'string' ? body.code.trim().slice(0, 64) : '';
  const retry = (locals: Record<string, unknown>, status: number) => (confirming ? totpPage(s, ctx, a, confirming, locals, status) : page(s, ctx, a, method, locals, status));
  if (!code) return retry({ error: method === 'RECOVERY_CODE' ? 'mfa.recovery_format' : 'mfa.format' }, 400);
  const outcome = await verifyChallengeCode(s, a.row, method as CodeMethod, code, requesterOf(ctx, a), confirming);
  if (outcome.ok) return outcome.recoveryCodes ? recoveryPage(s, ctx, a, outcome.token, outcome.recoveryCodes) : finishWith(s, ctx, a, outcome.token);
  // Closed meanwhile (a parallel request passed or failed it): the page as the decision is now.
  if ('refused' in outcome && outcome.refused === 'closed') return page(s, ctx, { ...a, row: (await findDecisionById(s.db, a.row.id)) ?? a.row }, method);
  if ('reason' in outcome && outcome.reason === 'failed') return failedPage(s, ctx, a, 400);
  if ('reason' in outcome && outcome.reason === 'lost') return message(s, ctx, a.locale, 'action.already_done', 409);
  if ('reason' in outcome && outcome.reason === 'delayed') {
    ctx.set('Retry-After', String(outcome.retryAfter ?? 1));
    return retry({ error: 'mfa.delayed', retryAfter: outcome.retryAfter ?? 1 }, 429);
  }
  const attemptsLeft = 'attemptsLeft' in outcome ? (outcome.attemptsLeft ?? null) : null;
  return retry({ error: codeError(method as CodeMethod, outcome, Boolean(confirming)), attemptsLeft }, 400);
}

/** The authenticator-app set-up (QR code, key) with its first-code form. */
async function totpPage(s: Services, ctx: Context, a: PageAction, authenticatorId: string, locals: Record<string, unknown> = {}, status = 200) {
  const totp = a.row.principalId ? await pendingTotpEnrolment(s, a.row.principalId, authenticatorId) : null;
  if (!totp) return page(s, ctx, a, 'AUTHENTICATOR_APP', { error: 'mfaEnrol.restart' }, 400);
  await show(s, ctx, a.locale, 'action-totp', { ...totp, ...form(s, a), back: pageUrl(a), ...locals }, status);
}

/** POST /totp: starts setting up an authenticator app (a user with none of the allowed methods). */
async function startTotp(s: Services, ctx: Context) {
  const a = await loadAction(s, ctx);
  if (!a) return;
  requireFormCsrf(s, a, ctx);
  const started = await startTotpEnrolment(s, a.row);
  if ('refused' in started)
    return page(s, ctx, a, 'AUTHENTICATOR_APP', started.refused === 'closed' ? {} : { error: 'mfaEnrol.not_offered' }, started.refused === 'closed' ? 200 : 400);
  return totpPage(s, ctx, a, started.authenticatorId);
}

/** GET /done?token=<result token>: the end of a challenge passed elsewhere (the passkey script). */
async function done(s: Services, ctx: Context) {
  const a = await loadAction(s, ctx, ['result']);
  if (!a) return;
  if (a.row.state !== 'CHALLENGE_SUCCEEDED' || a.row.resultTokenId !== a.claims.jti) return message(s, ctx, a.locale, 'action.invalid', 400);
  return finishWith(s, ctx, a, a.token);
}

export function actionPageRouter(s: Services): Router {
  const router = new Router({ prefix: '/v1/ui' });
  const body = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  // The page reflects the decision's state every time: never from a cache.
  router.use(noStore);
  router.get('/', (ctx) => showPage(s, ctx));
  router.post('/send', body, (ctx) => send(s, ctx));
  router.post('/verify', body, (ctx) => verify(s, ctx));
  router.post('/totp', body, (ctx) => startTotp(s, ctx));
  router.get('/done', (ctx) => done(s, ctx));
  return router;
}
