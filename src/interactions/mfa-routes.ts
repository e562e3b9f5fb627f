// The second-factor page of a hosted sign-in, /interaction/:uid/mfa (mfa-step.ts explains the stop).
// Every route reads the login this browser's interaction holds for its second factor and asks the
// policy again: a factor removed meanwhile, or a policy turned off, must not strand the user, and a
// user without factors goes to the enrolment (/mfa/enrol). The factor asked for is in the query
// (`?factor=<id>`, the default the first listed); choosing an email or SMS factor sends its code,
// bound to this interaction (`i.<uid>`). Codes go through the one door of each kind
// (checkFactorCode, checkFactorOob), a passkey through a challenge bound to `mfa:<uid>` whose
// assertion must be the pending user's own.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Services } from '../services.js';
import { ERRORS, SesameError } from '../errors.js';
import { oauthJsonErrors, tooManyRequests } from '../http/errors.js';
import { noStore } from '../http/middleware.js';
import { check } from '../risk/check.js';
import { PASSKEY_CEREMONIES_PER_IP } from '../risk/limits.js';
import { FACTOR_AMR, loginResult, passkeyAmr, withSecondFactor } from '../oidc/acr.js';
import { findLiveCode } from '../storage/codes.js';
import { mfaFlowKey } from '../passwordless/flows.js';
import { sendCooldownLeft } from '../passwordless/throttle.js';
import { throttlePolicy } from '../passwordless/one-time-codes.js';
import { finishAuthentication, startAuthentication, type Asker } from '../passwordless/passkeys.js';
import { checkFactorCode } from '../passwordless/mfa/factors.js';
import { checkFactorOob, sendFactorCode } from '../passwordless/mfa/oob.js';
import { remainingRecoveryCodes } from '../passwordless/mfa/recovery-codes.js';
import type { Challengeable } from '../passwordless/mfa/policy.js';
import { finish, loadInteraction, render, requester, requireCsrf, type FlowContext, type FlowState } from './flow-context.js';
import { mfaNeedOf, mfaPath, pendingMfaLogin, rememberBrowser, type PendingLogin } from './mfa-step.js';
import { challengeIdOf, chosenFactor, factorView, isOob } from './mfa-challenge.js';
import { sendRefusal } from './code-steps.js';
import { parseResponse } from './passkey-signin.js';

interface Challenge {
  login: PendingLogin;
  factors: Challengeable[];
}

/** Why a code was refused, as the page says it. */
const REFUSED: Record<string, string> = {
  replayed: 'mfa.replayed',
  expired: 'code.expired',
  exhausted: 'code.exhausted',
  missing: 'mfa.no_code',
  used: 'mfa.no_code',
  not_enrolled: 'mfa.gone',
};

function goTo(ctx: FlowContext, path: string) {
  ctx.status = 303;
  ctx.redirect(path);
}

/**
 * The pending login and the factors to challenge it with, or null once the answer is given: no
 * pending login (back to the sign-in), enrolment needed, or no second factor needed any more
 * (the sign-in finishes with its first factor).
 */
async function challengeOf(s: Services, ctx: FlowContext): Promise<Challenge | null> {
  const { details } = ctx.state.step;
  const login = pendingMfaLogin(details.result);
  if (!login || details.prompt.name !== 'login') {
    goTo(ctx, `/interaction/${details.uid}`);
    return null;
  }
  const need = await mfaNeedOf(s, ctx, details, login);
  if (need.kind === 'enroll') {
    goTo(ctx, `${mfaPath(details.uid)}/enrol`);
    return null;
  }
  if (need.kind === 'none') {
    await finish(s, ctx, { login: loginResult(login.accountId, login.amr) }, false);
    return null;
  }
  return { login, factors: need.factors };
}

/** The challenge page for `factor`, with the others to switch to (recovery codes last, as listed). */
async function page(s: Services, ctx: FlowContext, c: Challenge, factor: Challengeable, locals: Record<string, unknown> = {}, status = 200) {
  const address = factor.type === 'email' ? factor.email : factor.type === 'sms' ? factor.phoneNumber : null;
  const resendIn = address ? await sendCooldownLeft(s.db, throttlePolicy(s.config), address, requester(ctx)) : 0;
  await render(
    s,
    ctx,
    'mfa-challenge',
    {
      title: 'mfa.title',
      factor: factorView(factor),
      others: c.factors.filter((f) => f.id !== factor.id).map(factorView),
      rememberDays: s.config.mfa.rememberBrowserDays,
      resendIn,
      attemptsLeft: null,
      retryAfter: null,
      ...locals,
    },
    status,
  );
}

/** Sends the code of an email or SMS factor; null when sent, else the page's error and status. */
async function sendTo(s: Services, ctx: FlowContext, factor: Challengeable) {
  if (!isOob(factor)) return null;
  const sent = await sendFactorCode(s, challengeIdOf(ctx.state.step.details.uid), factor, requester(ctx));
  if (sent.ok) return null;
  return sendRefusal(ctx, sent);
}

/** GET: the page for the chosen factor; an email or SMS factor without a code of this sign-in on its way gets one. */
async function showChallenge(s: Services, ctx: FlowContext) {
  const c = await challengeOf(s, ctx);
  if (!c) return;
  const factor = chosenFactor(c.factors, ctx.query.factor);
  if (isOob(factor)) {
    const live = await findLiveCode(s.db, mfaFlowKey(challengeIdOf(ctx.state.step.details.uid)));
    const address = factor.type === 'email' ? factor.email : factor.phoneNumber;
    if (live?.identifier !== address) {
      const failed = await sendTo(s, ctx, factor);
      if (failed) return page(s, ctx, c, factor, { error: failed.error, retryAfter: failed.retryAfter }, failed.status);
    }
  }
  return page(s, ctx, c, factor, { notice: ctx.query.sent ? 'mfa.sent_again' : null });
}

/** POST /resend: a new code for the email or SMS factor on the page. */
async function resend(s: Services, ctx: FlowContext) {
  const c = await challengeOf(s, ctx);
  if (!c) return;
  const factor = chosenFactor(c.factors, (ctx.request.body as Record<string, unknown>).factor);
  if (!isOob(factor)) throw new SesameError('badRequest', { detail: 'factor must be one of your email or SMS factors' });
  const failed = await sendTo(s, ctx, factor);
  if (failed) return page(s, ctx, c, factor, { error: failed.error, retryAfter: failed.retryAfter }, failed.status);
  goTo(ctx, `${mfaPath(ctx.state.step.details.uid)}?factor=${encodeURIComponent(factor.id)}&sent=1`);
}

/**
 * The second factor is proved: remember this browser when asked, hand oidc-provider the login with
 * both factors' amr. After a recovery code, a short page says how many are left before going on.
 */
async function succeed(s: Services, ctx: FlowContext, c: Challenge, factorAmr: readonly string[], usedRecoveryCode = false) {
  if ((ctx.request.body as Record<string, unknown>).remember === '1') rememberBrowser(s, ctx, c.login.accountId);
  await finish(s, ctx, { login: loginResult(c.login.accountId, withSecondFactor(c.login.amr, factorAmr)) }, false);
  if (!usedRecoveryCode) return;
  const next = ctx.response.get('Location');
  ctx.remove('Location');
  const left = await remainingRecoveryCodes(s, c.login.accountId);
  await render(s, ctx, 'mfa-recovery-left', { title: 'mfa.recovery_left_title', next, left, few: left <= 2 });
}

/** POST: a code for the factor on the page (authenticator app, recovery code, email or SMS). */
async function verifyCode(s: Services, ctx: FlowContext) {
  const c = await challengeOf(s, ctx);
  if (!c) return;
  const body = ctx.request.body as Record<string, unknown>;
  const factor = c.factors.find((f) => f.id === body.factor);
  if (!factor || factor.type === 'passkey') throw new SesameError('badRequest', { detail: 'factor must be one of your factors' });
  const code = typeof body.code === 'string' ? body.code.trim().slice(0, 64) : '';
  if (!code) return page(s, ctx, c, factor, { error: factor.type === 'recovery-code' ? 'mfa.recovery_format' : 'mfa.format' }, 400);
  const who = requester(ctx);
  const uid = ctx.state.step.details.uid;
  const result =
    factor.type === 'totp' || factor.type === 'recovery-code'
      ? await checkFactorCode(s, c.login.accountId, factor.type === 'totp' ? { type: 'otp', code } : { type: 'recovery-code', code }, who)
      : await checkFactorOob(s, c.login.accountId, factor.id, challengeIdOf(uid), code, who);
  if (result.ok) return succeed(s, ctx, c, FACTOR_AMR[factor.type], factor.type === 'recovery-code');
  if (result.reason === 'delayed') {
    ctx.set('Retry-After', String(result.retryAfter ?? 1));
    return page(s, ctx, c, factor, { error: 'mfa.delayed', retryAfter: result.retryAfter ?? 1 }, 429);
  }
  const attemptsLeft = 'attemptsLeft' in result ? (result.attemptsLeft ?? null) : null;
  // A code of this sign-in sent to another of the user's factors (a page left open after switching) is spent: send a new one.
  const oobWrong = attemptsLeft === null ? 'mfa.no_code' : 'mfa.code_wrong';
  const wrong = factor.type === 'recovery-code' ? 'mfa.recovery_wrong' : isOob(factor) ? oobWrong : 'mfa.wrong';
  return page(s, ctx, c, factor, { error: result.reason === 'wrong' ? wrong : REFUSED[result.reason], attemptsLeft }, 400);
}

function passkeyAsker(ctx: FlowContext): Asker {
  const { ip, clientId, userAgent } = requester(ctx);
  return { boundTo: `mfa:${ctx.state.step.details.uid}`, ip, clientId, userAgent };
}

function passkeyOf(c: Challenge): Challengeable | undefined {
  return c.factors.find((f) => f.type === 'passkey');
}

/** POST /passkey/options (JSON): an assertion challenge for this second factor. */
async function passkeyOptions(s: Services, ctx: FlowContext) {
  const login = pendingMfaLogin(ctx.state.step.details.result);
  // The sign-in is over (or never got here): as for a spent challenge, start again.
  if (!login) throw new SesameError('passkeyExpired');
  const need = await mfaNeedOf(s, ctx, ctx.state.step.details, login);
  if (need.kind !== 'challenge' || !passkeyOf({ login, factors: need.factors })) throw new SesameError('badRequest', { detail: 'a passkey is not one of your factors here' });
  const decision = await check(s.db, PASSKEY_CEREMONIES_PER_IP, [ctx.ip], undefined);
  if (decision.kind !== 'allow') throw tooManyRequests(decision.retryAfter, 'Too many passkey sign-ins were started from this address.');
  const { handle, options } = await startAuthentication(s, passkeyAsker(ctx));
  ctx.body = { handle, options };
}

/** POST /passkey (form: handle, response): the assertion, which must be the pending user's own passkey. */
async function verifyPasskey(s: Services, ctx: FlowContext) {
  const c = await challengeOf(s, ctx);
  if (!c) return;
  const factor = passkeyOf(c);
  if (!factor) throw new SesameError('badRequest', { detail: 'factor must be one of your factors' });
  const body = ctx.request.body as Record<string, unknown>;
  const handle = typeof body.handle === 'string' && body.handle.length <= 200 ? body.handle : '';
  const response = parseResponse(body.response);
  if (!handle || !response) return page(s, ctx, c, factor, { error: 'mfa.passkey_failed' }, 400);
  const signedIn = await finishAuthentication(s, handle, response, passkeyAsker(ctx)).catch((err: unknown) => {
    if (err instanceof SesameError && (err.kind === 'passkeyFailed' || err.kind === 'passkeyExpired')) return err;
    throw err;
  });
  if (signedIn instanceof SesameError) return page(s, ctx, c, factor, { error: signedIn.kind === 'passkeyExpired' ? ERRORS.passkeyExpired.key : 'mfa.passkey_failed' }, 400);
  // Someone else's passkey proves nothing about this user: the same answer as a failed one.
  if (signedIn.userId !== c.login.accountId) return page(s, ctx, c, factor, { error: 'mfa.passkey_failed' }, 400);
  return succeed(s, ctx, c, passkeyAmr(signedIn.synced));
}

export function mfaChallengeRouter(s: Services): Router<FlowState> {
  const router = new Router<FlowState>({ prefix: '/interaction/:uid/mfa' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' });
  const jsonErrors = oauthJsonErrors(s.renderer, s.config.ui.defaultLocale);
  const [load, csrf] = [loadInteraction(s), requireCsrf(s)];

  // Answered by the server every time (never a cache), so Back shows what became of the sign-in.
  router.use(noStore);

  router.get('/', load, (ctx) => showChallenge(s, ctx));
  router.post('/', load, form, csrf, (ctx) => verifyCode(s, ctx));
  router.post('/resend', load, form, csrf, (ctx) => resend(s, ctx));
  // The options are for the page's script: errors in JSON, not as a page.
  router.post(
    '/passkey/options',
    (ctx, next) => jsonErrors(ctx, next),
    load,
    json,
    csrf,
    (ctx) => passkeyOptions(s, ctx),
  );
  router.post('/passkey', load, form, csrf, (ctx) => verifyPasskey(s, ctx));
  return router;
}
