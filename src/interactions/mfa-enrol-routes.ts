// The hosted MFA enrolment, /interaction/:uid/mfa/enrol (what the pages share, and why recovery
// codes cannot be shown twice: mfa-enrol.ts). An authenticator app (TOTP: QR code, key, first code),
// a text message or an email (the address, then a code sent to it, bound to this interaction), or a
// passkey (registration bound to `mfa-enrol:<uid>`, JavaScript needed). Every route acts on the
// interaction's pending login only; an authenticator id from a form is looked up for that user only.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { check } from '../risk/check.js';
import { PASSKEY_CEREMONIES_PER_IP, PASSKEY_CHANGES_PER_USER } from '../risk/limits.js';
import { smsConnection } from '../config/connections.js';
import { FACTOR_AMR, passkeyAmr } from '../oidc/acr.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import { checkFactorCode } from '../passwordless/mfa/factors.js';
import { checkFactorOob, enrolOob, sendFactorCode, type OobCheck } from '../passwordless/mfa/oob.js';
import { enrolTotp, pendingTotpEnrolment } from '../passwordless/mfa/totp.js';
import { finishRegistration, startRegistration, type Asker } from '../passwordless/passkeys.js';
import { listAuthenticators } from '../storage/mfa.js';
import { insertPasskey } from '../storage/passkeys.js';
import { findUserById } from '../storage/users.js';
import { recordAudit } from '../storage/audit.js';
import { noStore } from '../http/middleware.js';
import { ensureBrowserId } from './browser-id.js';
import { refusal } from './code-steps.js';
import { loadInteraction, render, requester, requireCsrf } from './flow-context.js';
import { continueAfterCodes, enrolling, enrolPath, factorConfirmed, loadEnrolment, showChoice, showRecoveryAgain, type EnrolContext, type EnrolState } from './mfa-enrol.js';

type Oob = 'sms' | 'email';

const body = (ctx: EnrolContext) => (ctx.request.body ?? {}) as Record<string, unknown>;
const field = (ctx: EnrolContext, name: string) => (typeof body(ctx)[name] === 'string' ? (body(ctx)[name] as string) : '');

/** The key as people copy it: groups of four. */
const grouped = (secret: string) => secret.match(/.{1,4}/g)!.join(' ');

// ---- Authenticator app (TOTP)

async function startTotp(s: Services, ctx: EnrolContext) {
  await enrolTotp(s, ctx.state.enrol.login.accountId);
  ctx.status = 303;
  ctx.redirect(enrolPath(ctx.state.step.details.uid, '/totp'));
}

/** The QR code, key and confirm form of the user's enrolment in progress (after a wrong code too). */
async function showTotp(s: Services, ctx: EnrolContext, error: string | null = null, status = 200, retryAfter?: number) {
  const userId = ctx.state.enrol.login.accountId;
  const [row] = await listAuthenticators(s.db, userId, { type: 'totp', confirmed: false });
  const totp = row && (await pendingTotpEnrolment(s, userId, row.id));
  if (!totp) return showChoice(s, ctx, error ?? 'mfaEnrol.restart', error ? status : 400);
  await render(s, ctx, 'mfa-enrol-totp', { title: 'mfaEnrol.totp_title', ...totp, key: grouped(totp.secret), error, retryAfter }, status);
}

const TOTP_MESSAGES = { wrong: 'mfaEnrol.totp_wrong', replayed: 'mfaEnrol.totp_replayed', not_enrolled: 'mfaEnrol.restart', delayed: 'code.delayed' } as const;

async function confirmTotp(s: Services, ctx: EnrolContext) {
  const userId = ctx.state.enrol.login.accountId;
  const code = field(ctx, 'code');
  if (!/^\s*\d{3}\s?\d{3}\s*$/.test(code)) return showTotp(s, ctx, 'mfaEnrol.totp_format', 400);
  const who = { ip: ctx.ip, clientId: String(ctx.state.step.details.params.client_id), browser: ensureBrowserId(ctx, s.config.codes.trustedBrowserTtl) };
  // `confirming` comes from the form: checkFactorCode finds it among this user's authenticators only.
  const checked = await checkFactorCode(s, userId, { type: 'otp', code, confirming: field(ctx, 'authenticator').slice(0, 200) }, who);
  if (checked.ok) return factorConfirmed(s, ctx, FACTOR_AMR.totp);
  if (checked.retryAfter) ctx.set('Retry-After', String(checked.retryAfter));
  return showTotp(s, ctx, TOTP_MESSAGES[checked.reason], checked.reason === 'delayed' ? 429 : 400, checked.retryAfter);
}

// ---- Text message and email

/** The challenge an enrolment code is sent under: this interaction's (the challenge page has its own). */
const challengeOf = (ctx: EnrolContext) => `i.${ctx.state.step.details.uid}.enrol`;

async function showAddress(s: Services, ctx: EnrolContext, type: Oob, value = '', error: string | null = null, status = 200, retryAfter?: number) {
  await render(s, ctx, 'mfa-enrol-address', { title: `mfaEnrol.${type}_title`, type, value, error, retryAfter }, status);
}

/** The address typed: an email, or a phone number read as the sign-in page reads it, in an allowed country. */
function addressOf(s: Services, type: Oob, raw: string): { ok: true; value: string } | { ok: false; error: string } {
  if (type === 'email') {
    const email = normalizeEmail(raw);
    return email ? { ok: true, value: email } : { ok: false, error: 'email.invalid' };
  }
  const sms = smsConnection(s.config);
  const phone = sms && parsePhone(raw, sms.defaultCountry);
  if (!sms || !phone) return { ok: false, error: 'mfaEnrol.phone_invalid' };
  if (!phone.country || !sms.allowedCountries.includes(phone.country)) return { ok: false, error: 'mfaEnrol.phone_country' };
  return { ok: true, value: phone.e164 };
}

async function startOob(s: Services, ctx: EnrolContext, type: Oob) {
  const raw = field(ctx, 'address').slice(0, 300);
  const address = addressOf(s, type, raw);
  if (!address.ok) return showAddress(s, ctx, type, raw, address.error, 400);
  const to = type === 'email' ? { type, email: address.value } : { type, phoneNumber: address.value };
  const factor = await enrolOob(s, ctx.state.enrol.login.accountId, to);
  const sent = await sendFactorCode(s, challengeOf(ctx), factor, requester(ctx));
  if (!sent.ok) {
    const { error, status } = refusal(sent);
    if (status === 429) ctx.set('Retry-After', String(sent.retryAfter));
    return showAddress(s, ctx, type, address.value, error, status, sent.retryAfter);
  }
  ctx.status = 303;
  ctx.redirect(enrolPath(ctx.state.step.details.uid, `/${type}/code`));
}

/** The user's address being enrolled, or null (none started, or replaced). */
async function pendingOob(s: Services, ctx: EnrolContext, type: Oob) {
  const [row] = await listAuthenticators(s.db, ctx.state.enrol.login.accountId, { type, confirmed: false });
  return row ?? null;
}

async function showOobCode(s: Services, ctx: EnrolContext, type: Oob, extra: { error?: string; notice?: string; retryAfter?: number } = {}, status = 200) {
  const factor = await pendingOob(s, ctx, type);
  if (!factor) return showAddress(s, ctx, type, '', extra.error ?? null, extra.error ? status : 200);
  const address = type === 'email' ? factor.email : factor.phoneNumber;
  const notice = extra.notice ?? (ctx.query.sent ? 'mfaEnrol.code_sent_again' : null);
  await render(s, ctx, 'mfa-enrol-code', { title: `mfaEnrol.${type}_title`, type, address, authenticator: factor.id, error: null, ...extra, notice }, status);
}

const OOB_MESSAGES: Record<Exclude<OobCheck, { ok: true }>['reason'], string> = {
  wrong: 'mfaEnrol.code_wrong',
  expired: 'mfaEnrol.code_expired',
  exhausted: 'mfaEnrol.code_again',
  missing: 'mfaEnrol.code_again',
  used: 'mfaEnrol.code_again',
  delayed: 'code.delayed',
  not_enrolled: 'mfaEnrol.restart',
};

async function confirmOob(s: Services, ctx: EnrolContext, type: Oob) {
  const code = field(ctx, 'code');
  if (!/^\s*[0-9][0-9\s-]{0,20}$/.test(code)) return showOobCode(s, ctx, type, { error: 'mfaEnrol.code_format' }, 400);
  const who = { ...requester(ctx), browser: ensureBrowserId(ctx, s.config.codes.trustedBrowserTtl) };
  const userId = ctx.state.enrol.login.accountId;
  const checked = await checkFactorOob(s, userId, field(ctx, 'authenticator').slice(0, 200), challengeOf(ctx), code, who);
  // A code sent to another factor type (a forged id of the user's own email factor) confirms nothing here.
  if (checked.ok && checked.authenticatorId.startsWith(`${type}|`)) return factorConfirmed(s, ctx, FACTOR_AMR[type]);
  const reason = checked.ok ? 'not_enrolled' : checked.reason;
  const retryAfter = checked.ok ? undefined : checked.retryAfter;
  if (retryAfter) ctx.set('Retry-After', String(retryAfter));
  return showOobCode(s, ctx, type, { error: OOB_MESSAGES[reason], retryAfter }, reason === 'delayed' ? 429 : 400);
}

async function resendOob(s: Services, ctx: EnrolContext, type: Oob) {
  const factor = await pendingOob(s, ctx, type);
  if (!factor) return showAddress(s, ctx, type);
  const sent = await sendFactorCode(s, challengeOf(ctx), factor, requester(ctx));
  if (!sent.ok) {
    const { error, status } = refusal(sent);
    if (status === 429) ctx.set('Retry-After', String(sent.retryAfter));
    return showOobCode(s, ctx, type, { error, retryAfter: sent.retryAfter }, status);
  }
  ctx.status = 303;
  ctx.redirect(enrolPath(ctx.state.step.details.uid, `/${type}/code?sent=1`));
}

// ---- Passkey

function passkeyAsker(ctx: EnrolContext): Asker {
  const { details } = ctx.state.step;
  return { boundTo: `mfa-enrol:${details.uid}`, clientId: String(details.params.client_id), ip: ctx.ip };
}

async function showPasskey(s: Services, ctx: EnrolContext, error: string | null = null, status = 200) {
  await render(s, ctx, 'mfa-enrol-passkey', { title: 'mfaEnrol.passkey_title', error }, status);
}

/** Registration options for the page's script (JSON), for the pending user, bound to this interaction. */
async function passkeyOptions(s: Services, ctx: EnrolContext) {
  const decision = await check(s.db, PASSKEY_CEREMONIES_PER_IP, [ctx.ip], undefined);
  if (decision.kind !== 'allow') throw new SesameError('tooManyRequests', { retryAfter: decision.retryAfter });
  const user = await findUserById(s.db, ctx.state.enrol.login.accountId);
  if (!user) throw new SesameError('passkeyExpired');
  const { handle, options } = await startRegistration(s, { user }, passkeyAsker(ctx));
  ctx.body = { handle, options };
}

function registrationOf(ctx: EnrolContext): { handle: string; response: RegistrationResponseJSON } | null {
  const [handle, response] = [field(ctx, 'handle'), field(ctx, 'response')];
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(handle) || response.length > 32_000) return null;
  try {
    const parsed = JSON.parse(response) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? { handle, response: parsed as RegistrationResponseJSON } : null;
  } catch {
    return null;
  }
}

async function createPasskey(s: Services, ctx: EnrolContext) {
  const userId = ctx.state.enrol.login.accountId;
  const given = registrationOf(ctx);
  if (!given) return showPasskey(s, ctx, 'passkey.failed', 400);
  let registered;
  try {
    registered = await finishRegistration(s, given.handle, given.response, passkeyAsker(ctx));
  } catch (err) {
    if (err instanceof SesameError && (err.kind === 'passkeyFailed' || err.kind === 'passkeyExpired')) return showPasskey(s, ctx, err.key ?? null, 400);
    throw err;
  }
  // The challenge names the user the options were made for: this login's (checked all the same).
  if (registered.userId !== userId) return showPasskey(s, ctx, 'passkey.failed', 400);
  const decision = await check(s.db, PASSKEY_CHANGES_PER_USER, [userId], undefined);
  if (decision.kind !== 'allow') {
    ctx.set('Retry-After', String(decision.retryAfter));
    return showPasskey(s, ctx, 'passkey_offer.too_many', 429);
  }
  const passkey = await insertPasskey(s.db, { ...registered.credential, userId });
  await recordAudit(s.db, { type: 'passkey.added', userId, clientId: String(ctx.state.step.details.params.client_id), ip: ctx.ip, reason: passkey.id });
  return factorConfirmed(s, ctx, passkeyAmr(registered.credential.backedUp));
}

export function mfaEnrolRouter(s: Services): Router<EnrolState> {
  const router = new Router<EnrolState>({ prefix: '/interaction/:uid/mfa/enrol' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '64kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' });
  const [load, csrf, enrol] = [loadInteraction(s), requireCsrf(s), loadEnrolment(s)];
  const start = (type: Parameters<typeof enrolling>[1]) => enrolling(s, type);

  // Never from a cache: Back asks the server, which shows no secret or code that was shown before.
  router.use(noStore);

  router.get('/', load, enrol, start(null), (ctx) => showChoice(s, ctx));
  router.post('/totp', load, form, csrf, enrol, start('totp'), (ctx) => startTotp(s, ctx));
  router.get('/totp', load, enrol, start('totp'), (ctx) => showTotp(s, ctx));
  router.post('/totp/confirm', load, form, csrf, enrol, start('totp'), (ctx) => confirmTotp(s, ctx));
  for (const type of ['sms', 'email'] as const) {
    router.get(`/${type}`, load, enrol, start(type), (ctx) => showAddress(s, ctx, type));
    router.post(`/${type}`, load, form, csrf, enrol, start(type), (ctx) => startOob(s, ctx, type));
    router.get(`/${type}/code`, load, enrol, start(type), (ctx) => showOobCode(s, ctx, type));
    router.post(`/${type}/code`, load, form, csrf, enrol, start(type), (ctx) => confirmOob(s, ctx, type));
    router.post(`/${type}/resend`, load, form, csrf, enrol, start(type), (ctx) => resendOob(s, ctx, type));
  }
  router.get('/passkey', load, enrol, start('passkey'), (ctx) => showPasskey(s, ctx));
  router.post('/passkey/options', load, json, csrf, enrol, start('passkey'), (ctx) => passkeyOptions(s, ctx));
  router.post('/passkey', load, form, csrf, enrol, start('passkey'), (ctx) => createPasskey(s, ctx));
  router.get('/recovery', load, enrol, (ctx) => showRecoveryAgain(s, ctx));
  router.post('/recovery', load, form, csrf, enrol, (ctx) => continueAfterCodes(s, ctx));
  return router;
}
