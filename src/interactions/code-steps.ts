// The code steps of the hosted sign-in: the identifier form sends a code (by email with the sign-in
// link, or by SMS), the code form checks it, resend, and "use another email". Each POST either
// redirects (303) to the next step or re-renders its step with a message.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { ERRORS, smsRefusal } from '../errors.js';
import { findLiveCode, retireFlowCodes } from '../storage/codes.js';
import { revokeFlowLinks } from '../storage/magic-links.js';
import { isPhoneIdentifier, parseIdentifier, parsePhone } from '../passwordless/identifiers.js';
import { checkCode, sendCode, type CheckResult, type SmsSendResult } from '../passwordless/one-time-codes.js';
import { smsConnection } from '../config/connections.js';
import { codeAmr, loginResult } from '../oidc/acr.js';
import { ensureBrowserId } from './browser-id.js';
import { loginLinkUrl } from './links.js';
import { codeAllowed, finish, render, renderCodeStep, requester, type FlowContext } from './flow-context.js';

const CODE_MESSAGES: Record<Exclude<CheckResult, { ok: true }>['reason'], string> = {
  wrong: 'code.wrong',
  expired: 'code.expired',
  exhausted: 'code.exhausted',
  missing: 'code.missing',
  used: 'code.missing',
  delayed: 'code.delayed',
};

/** Ends a sign-in's codes and links ("use another email", cancel). */
export async function retireFlow(db: Services['db'], flowKey: string) {
  await retireFlowCodes(db, flowKey);
  await revokeFlowLinks(db, flowKey);
}

/** Sends a code for this sign-in: by SMS to a phone number, by email (with the sign-in link) otherwise. */
function send(s: Services, ctx: FlowContext, identifier: string): Promise<SmsSendResult> {
  const { flowKey } = ctx.state.step;
  const who = requester(ctx);
  if (isPhoneIdentifier(identifier)) return sendCode(s, flowKey, { phone: identifier, country: parsePhone(identifier)?.country }, who);
  return sendCode(s, flowKey, { email: identifier }, who, { link: () => loginLinkUrl(ctx, s, flowKey, identifier, who.clientId) });
}

/** The page answer to a refused send: which message, which status. */
export function refusal(sent: Exclude<SmsSendResult, { ok: true }>): { error: string; status: number } {
  const refused = smsRefusal(sent.reason);
  if (refused) return { error: ERRORS[refused].key, status: ERRORS[refused].status };
  return { error: 'code.wait', status: 429 };
}

/**
 * A second factor's code send refused, as the factor pages (the MFA challenge, the actions'
 * challenge page) say it: their own wording for a wait, and Retry-After on a 429.
 */
export function sendRefusal(ctx: Pick<Context, 'set'>, sent: Exclude<SmsSendResult, { ok: true }>): { error: string; status: number; retryAfter: number } {
  const refused = refusal(sent);
  if (refused.status === 429) ctx.set('Retry-After', String(sent.retryAfter));
  return { error: refused.error === 'code.wait' ? 'mfa.wait' : refused.error, status: refused.status, retryAfter: sent.retryAfter };
}

export async function submitEmail(s: Services, ctx: FlowContext) {
  const body = ctx.request.body as Record<string, unknown>;
  const raw = body.identifier ?? body.email;
  const sms = smsConnection(s.config);
  const identifier = parseIdentifier(raw, sms ? sms.defaultCountry : false);
  if (!identifier) {
    return render(s, ctx, 'email', { email: typeof raw === 'string' ? raw : '', error: sms ? 'identifier.invalid' : 'email.invalid' }, 400);
  }
  // The page offers only the methods the request's acr allows; a hand-made form gets no further.
  if (!codeAllowed(s, ctx, isPhoneIdentifier(identifier.value) ? 'sms' : 'email')) {
    return render(s, ctx, 'email', { email: identifier.value, error: 'identifier.method' }, 400);
  }
  const sent = await send(s, ctx, identifier.value);
  if (!sent.ok) {
    const { error, status } = refusal(sent);
    if (status === 429) ctx.set('Retry-After', String(sent.retryAfter));
    // A code for this address is already on its way in this sign-in (a double click, Back and
    // submit again): the page takes that code rather than only saying "wait".
    const codeSent = status === 429 && (await findLiveCode(s.db, ctx.state.step.flowKey))?.identifier === identifier.value;
    const message = codeSent ? { notice: 'code.wait_have_code' } : { error };
    return render(s, ctx, 'email', { email: identifier.value, ...message, retryAfter: sent.retryAfter, codeSent }, status);
  }
  ctx.status = 303;
  ctx.redirect(`/interaction/${ctx.params.uid}`);
}

export async function submitCode(s: Services, ctx: FlowContext) {
  const { flowKey } = ctx.state.step;
  const code = (ctx.request.body as Record<string, unknown>).code;
  const live = await findLiveCode(s.db, flowKey);
  if (!live) return render(s, ctx, 'email', { email: '', error: 'code.missing' }, 400);
  if (typeof code !== 'string' || !/^\s*[0-9][0-9\s-]{0,20}$/.test(code)) {
    return renderCodeStep(s, ctx, live.identifier, { error: 'code.format' }, 400);
  }
  // The id is in place before the check, so a right code marks this browser as the address's own.
  const who = { ...requester(ctx), browser: ensureBrowserId(ctx, s.config.codes.trustedBrowserTtl) };
  const result = await checkCode(s, flowKey, code, who, { live });
  if (result.ok) {
    return finish(s, ctx, { login: loginResult(result.user.id, codeAmr(isPhoneIdentifier(live.identifier))) }, false, result.user);
  }
  if (result.retryAfter) ctx.set('Retry-After', String(result.retryAfter));
  const status = result.reason === 'delayed' ? 429 : 400;
  return renderCodeStep(s, ctx, live.identifier, { error: CODE_MESSAGES[result.reason], attemptsLeft: result.attemptsLeft ?? null, retryAfter: result.retryAfter ?? null }, status);
}

export async function resendCode(s: Services, ctx: FlowContext) {
  const live = await findLiveCode(s.db, ctx.state.step.flowKey);
  if (!live) return ctx.redirect(`/interaction/${ctx.params.uid}`);
  const sent = await send(s, ctx, live.identifier);
  if (!sent.ok) {
    const { error, status } = refusal(sent);
    if (status === 429) ctx.set('Retry-After', String(sent.retryAfter));
    return renderCodeStep(s, ctx, live.identifier, { error, retryAfter: sent.retryAfter }, status);
  }
  ctx.status = 303;
  ctx.redirect(`/interaction/${ctx.params.uid}?sent=1`);
}

export async function useAnotherEmail(s: Services, ctx: FlowContext) {
  await retireFlow(s.db, ctx.state.step.flowKey);
  ctx.status = 303;
  ctx.redirect(`/interaction/${ctx.params.uid}`);
}
