// Two-step verification on the account page: add an authenticator app (QR code, the key to type,
// a first code to confirm; the first factor brings recovery codes), new recovery codes, remove a
// factor. Works without JavaScript. Every step needs a fresh sign-in, the page's CSRF token and the
// per-user change limit; each change is audited and confirmed by email (account-changes.ts).
// Recovery codes are shown once, on the answer to the POST that made them (the page is no-store).
// Removing the user's last factor while the global policy is `always` is refused (removeOwnFactor).
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { ACCOUNT_CLIENT_ID } from '../oidc/first-party-clients.js';
import { checkFactorCode, type FactorAsker } from '../passwordless/mfa/factors.js';
import { removeOwnFactor } from '../passwordless/mfa/policy.js';
import { generateRecoveryCodes } from '../passwordless/mfa/recovery-codes.js';
import { enrolTotp, pendingTotpEnrolment, type TotpEnrolment } from '../passwordless/mfa/totp.js';
import { accountCsrf, accountSession, isFresh, requirePost, sendToSignIn, type AccountSession } from './account-session.js';
import { pageLocale, showAccountPage } from './account-page.js';
import { confirmChange, limitChange } from './account-changes.js';
import { confirmedFactors, factorLabel, factorText, hasSecondFactor } from './account-mfa-view.js';

// Auth0's shape, `<type>|dev_<random>`: anything else names no factor.
const AUTHENTICATOR_ID = /^(totp|sms|email|recovery-code)\|dev_[A-Za-z0-9_-]{1,64}$/;
/** Time to scan the code and type a first one, past the fresh sign-in that opened the enrolment. */
const ENROLMENT_SLACK = 10 * 60;
/** Where a stale sign-in comes back to: the account page says it may go on now. */
const AGAIN = '/account?done=mfa_signed_in_again';

function field(ctx: Context, name: string): string {
  const value = ((ctx.request.body ?? {}) as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : '';
}

function asker(ctx: Context): FactorAsker {
  return { ip: ctx.ip, clientId: ACCOUNT_CLIENT_ID };
}

async function showEnrolment(s: Services, ctx: Context, session: AccountSession, enrolment: TotpEnrolment, error: string | null = null, retryAfter?: number) {
  ctx.status = error ? 400 : 200;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('account-totp', pageLocale(s, ctx), {
    title: 'account.totp.title',
    csrf: accountCsrf(s, session),
    id: enrolment.authenticatorId,
    qrSvg: enrolment.qrSvg,
    // Groups of four, as apps show keys; apps ignore the spaces.
    secret: enrolment.secret.replace(/(.{4})(?=.)/g, '$1 '),
    error,
    retryAfter,
  });
}

async function showRecoveryCodes(s: Services, ctx: Context, session: AccountSession, codes: string[], notice: string) {
  ctx.status = 200;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('account-recovery-codes', pageLocale(s, ctx), { title: 'account.recovery.title', codes, notice, csrf: accountCsrf(s, session) });
}

/** POST /account/mfa/totp/start: a new enrolment (secret, QR code), shown with the form for its first code. */
export async function startTotp(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  if (!isFresh(session)) return sendToSignIn(s, ctx, AGAIN, true);
  await limitChange(s, session);
  return showEnrolment(s, ctx, session, await enrolTotp(s, session.userId));
}

/** POST /account/mfa/totp: the first code from the app. The first factor of a user brings their recovery codes. */
export async function confirmTotp(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  if (!isFresh(session, ENROLMENT_SLACK)) return sendToSignIn(s, ctx, AGAIN, true);
  const id = field(ctx, 'id');
  const enrolment = AUTHENTICATOR_ID.test(id) ? await pendingTotpEnrolment(s, session.userId, id) : null;
  if (!enrolment) throw new SesameError('notFound', { detail: 'You have no such authenticator app being added.' });
  const checked = await checkFactorCode(s, session.userId, { type: 'otp', code: field(ctx, 'code').slice(0, 20), confirming: id }, asker(ctx));
  if (!checked.ok) {
    if (checked.reason === 'delayed') return showEnrolment(s, ctx, session, enrolment, 'account.totp.delayed', checked.retryAfter);
    return showEnrolment(s, ctx, session, enrolment, 'account.totp.wrong');
  }
  const locale = pageLocale(s, ctx);
  await confirmChange(s, ctx, session, 'mfa_added', factorText(s, locale, { type: 'totp', phoneNumber: null, email: null }), locale);
  const factors = await confirmedFactors(s, session.userId);
  if (factors.some((f) => f.type === 'recovery-code') || !s.config.mfa.factors.includes('recovery-code')) {
    ctx.status = 303;
    return ctx.redirect('/account?done=mfa_added');
  }
  const { codes } = await generateRecoveryCodes(s, session.userId);
  return showRecoveryCodes(s, ctx, session, codes, 'account.done.mfa_added');
}

/** POST /account/mfa/recovery-codes: a new set, shown once; every earlier code stops working. */
export async function regenerateCodes(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  if (!isFresh(session)) return sendToSignIn(s, ctx, AGAIN, true);
  if (!s.config.mfa.factors.includes('recovery-code') || !hasSecondFactor(await confirmedFactors(s, session.userId))) {
    return showAccountPage(s, ctx, session, { error: 'account.recovery.needs_factor' });
  }
  await limitChange(s, session);
  const { codes } = await generateRecoveryCodes(s, session.userId);
  await confirmChange(s, ctx, session, 'recovery_codes_regenerated', null, pageLocale(s, ctx));
  return showRecoveryCodes(s, ctx, session, codes, 'account.done.recovery_regenerated');
}

/** One of this user's confirmed factors by the request's id; 404 for anything else (another user's id included). */
async function ownFactor(s: Services, session: AccountSession, id: string) {
  const factor = AUTHENTICATOR_ID.test(id) ? (await confirmedFactors(s, session.userId)).find((f) => f.id === id) : undefined;
  if (!factor) throw new SesameError('notFound', { detail: 'You have no such second factor.' });
  return factor;
}

/** GET /account/mfa/remove?id=: asks to confirm the removal (after a fresh sign-in); the form posts back. */
export async function confirmFactorRemoval(s: Services, ctx: Context) {
  const id = typeof ctx.query.id === 'string' ? ctx.query.id : '';
  const back = AUTHENTICATOR_ID.test(id) ? `/account/mfa/remove?id=${encodeURIComponent(id)}` : '/account';
  const session = await accountSession(s, ctx);
  if (!session || !isFresh(session)) return sendToSignIn(s, ctx, back, Boolean(session));
  const factor = await ownFactor(s, session, id);
  ctx.type = 'html';
  ctx.body = await s.renderer.page('account-mfa-remove', pageLocale(s, ctx), {
    title: 'account.mfa_remove.title',
    csrf: accountCsrf(s, session),
    id: factor.id,
    label: factorLabel(factor),
    recovery: factor.type === 'recovery-code',
  });
}

/** POST /account/mfa/remove: removes the factor, unless it is the last one the global policy needs. */
export async function submitFactorRemoval(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  const factor = await ownFactor(s, session, field(ctx, 'id'));
  if (!isFresh(session)) return sendToSignIn(s, ctx, `/account/mfa/remove?id=${encodeURIComponent(factor.id)}`, true);
  await limitChange(s, session);
  const removed = await removeOwnFactor(s.config, s.db, session.userId, factor.id, asker(ctx));
  if (removed === 'last_factor') return showAccountPage(s, ctx, session, { error: 'account.mfa.last_factor' });
  if (removed === 'not_found') throw new SesameError('notFound', { detail: 'You have no such second factor.' });
  const locale = pageLocale(s, ctx);
  await confirmChange(s, ctx, session, 'mfa_removed', factorText(s, locale, factor), locale);
  ctx.status = 303;
  ctx.redirect('/account?done=mfa_removed');
}
