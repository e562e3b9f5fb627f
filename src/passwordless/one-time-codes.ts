// Sign-in with one-time codes, independent of how the user arrived (hosted pages, the Auth0- and
// Userfront-style APIs): send a code by email or SMS, check it, find or create the user of the
// verified email address or phone number. SMS sends pass gates of their own first (sendBySms).
import type { LoadedConfig } from '../config/load.js';
import { emailConnection, smsConnection } from '../config/connections.js';
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import type { Keyring } from './keyring.js';
import { recordAudit } from '../storage/audit.js';
import { findLiveCode, insertCodeWithMessage, type CodeRow } from '../storage/codes.js';
import { check } from '../risk/check.js';
import { SMS_PER_PREFIX } from '../risk/limits.js';
import type { OutgoingMessage } from '../storage/outbox.js';
import type { User } from '../storage/users.js';
import { maySignUp, resolveUser } from './sign-up.js';
import { isPhoneIdentifier, parsePhone, phonePrefix } from './identifiers.js';
import { conversionDelay, recordSmsSent, recordSmsVerified } from './sms-guard.js';
import { newCode, verifyCode } from './codes.js';
import { webhookPayload } from '../delivery/webhook.js';
import { checkSend, reserveVerify, settleVerify, trustBrowser, type ThrottlePolicy } from './throttle.js';

/**
 * What sending a code needs of rendering: messages, not pages. http/render.ts's Renderer fits; it
 * is declared here so that this domain module does not import the HTTP layer.
 */
export interface MessageRenderer {
  email(template: string, locale: string, locals: Record<string, unknown>): Promise<{ subject: string; text: string; html: string }>;
  text(template: string, locale: string, locals: Record<string, unknown>): Promise<string>;
}

/** What checking a code needs. */
export interface CodeCheckDeps {
  config: LoadedConfig;
  db: Db;
  keyring: Keyring;
}

/** What sending a code needs: checking's, plus rendering, logging and the outbox worker's nudge. */
export interface CodeSendDeps extends CodeCheckDeps {
  log: Logger;
  renderer: MessageRenderer;
  /** After a message was queued and committed (delivery/wake.ts). */
  wakeWorker(): void;
}

/** Where a code goes: an email address, or a phone number (E.164) with its country. */
export type CodeRecipient = { email: string } | SmsRecipient;
export interface SmsRecipient {
  phone: string;
  country: string | undefined;
}

export interface Requester {
  ip: string;
  clientId: string;
  locale: string;
  /** The hosted pages' browser id (signed cookie): a browser that signed in as an address keeps its own limits there. */
  browser?: string;
  /** The browser's User-Agent, kept with the sign-in for the account page's recent sign-ins. */
  userAgent?: string;
}

export type SendResult = { ok: true; resendIn: number } | { ok: false; reason: 'cooldown' | 'identifier' | 'ip' | 'client'; retryAfter: number };

/** `number_type`: a valid number of a kind the connection does not text (landline, toll-free, VoIP...). */
export type SmsSendResult = SendResult | { ok: false; reason: 'country' | 'number_type' | 'disabled' | 'prefix' | 'slowed'; retryAfter: number };

export type CheckResult =
  { ok: true; user: User } | { ok: false; reason: 'missing' | 'expired' | 'exhausted' | 'wrong' | 'used' | 'delayed'; retryAfter?: number; attemptsLeft?: number };

export interface SendOptions {
  /** Makes the sign-in link the message carries (beside the code), for a known address. */
  link?: (code: string) => string | Promise<string>;
  /** `link`: a message about the link (Auth0 links); `code` (default): the code first, then any link. */
  template?: 'code' | 'link';
  /** The connection sending (its delivery settings apply); the email connection by default. */
  connectionId?: string;
  /** Overrides the per-IP hourly cap (public API clients get a stricter one). */
  sendsPerIpPerHour?: number;
  /** The client's hourly cap of sends (API flows), counted only once the narrower limits passed. */
  sendsPerClientPerHour?: number;
  /** A code sent as a second factor to an address the user enrolled: always the code, never the "no account" notice. */
  factor?: boolean;
}

export interface CheckOptions {
  /** The client's per-minute cap of code checks (the OTP grant), counted only once the narrower limits passed. */
  checksPerClientPerMinute?: number;
  /** The flow's live code as the caller read it in this request (the hosted code step), so it is not read again; the conditional updates of the check still decide. */
  live?: CodeRow;
}

/** The limits of code sends and checks; `client` adds the client-wide cap of an API flow. */
export function throttlePolicy(config: LoadedConfig, sendsPerIpPerHour?: number, client?: ThrottlePolicy['client']): ThrottlePolicy {
  const publicCap = sendsPerIpPerHour ? { sendsPerIpPerHour, ipBucket: 'public' } : {};
  return { ...config.codes, ...config.rateLimits, ...publicCap, client };
}

/**
 * Sends a sign-in code for `flowKey`: by SMS to a phone number (only `connectionId` of the options
 * applies), by email otherwise. The answer is the same whether or not the recipient is a user:
 * with sign-up closed, an unknown address gets a "no account" notice instead.
 */
export function sendCode(deps: CodeSendDeps, flowKey: string, to: { email: string }, who: Requester, options?: SendOptions): Promise<SendResult>;
export function sendCode(deps: CodeSendDeps, flowKey: string, to: CodeRecipient, who: Requester, options?: Pick<SendOptions, 'connectionId' | 'factor'>): Promise<SmsSendResult>;
export function sendCode(deps: CodeSendDeps, flowKey: string, to: CodeRecipient, who: Requester, options: SendOptions = {}): Promise<SmsSendResult> {
  return 'phone' in to ? sendBySms(deps, flowKey, to, who, options.connectionId) : sendByEmail(deps, flowKey, to.email, who, options);
}

async function sendByEmail(deps: CodeSendDeps, flowKey: string, email: string, who: Requester, options: SendOptions): Promise<SendResult> {
  const { config, db } = deps;
  const client = options.sendsPerClientPerHour ? { clientId: who.clientId, max: options.sendsPerClientPerHour } : undefined;
  // The limits' statement reads the address's user too: one round trip fewer on PostgreSQL.
  const limited = await checkSend(db, throttlePolicy(config, options.sendsPerIpPerHour, client), email, who, email);
  if (limited.limited) {
    await recordAudit(db, { type: 'code.send_limited', clientId: who.clientId, identifier: email, ip: who.ip, reason: limited.reason });
    return { ok: false, reason: limited.reason, retryAfter: limited.retryAfter };
  }
  // The code is stored with its message and audit event in one batch, once the message is made.
  const { code, expiresAt, row } = newCode(config.codes, deps.keyring, flowKey, email);
  const userId = limited.userId ?? null;
  const known = options.factor === true || maySignUp(config.signUp) || userId !== null;
  const minutes = Math.round(config.codes.ttl / 60);
  // The link is made either way so known and unknown addresses cost the same; only owners get it.
  const url = options.link ? await options.link(code) : null;
  // clientId: the message carries that client's brand (see http/render.ts).
  const message = known
    ? await deps.renderer.email(options.template ?? 'code', who.locale, { code, minutes, url, clientId: who.clientId })
    : await deps.renderer.email('no-account', who.locale, { clientId: who.clientId });
  const connection = emailConnection(config, options.connectionId);
  let outgoing: OutgoingMessage;
  if (connection?.delivery?.type === 'webhook') {
    const body = webhookPayload({ email, code: known ? code : null, url: known ? url : null, expiresAt, message: message.text, userId, clientId: who.clientId });
    outgoing = { channel: 'webhook', connectionId: connection.id, recipient: email, subject: message.subject, text: JSON.stringify(body) };
  } else {
    outgoing = { channel: 'email', recipient: email, ...message };
  }
  await insertCodeWithMessage(db, row, outgoing, { type: 'code.sent', clientId: who.clientId, identifier: email, ip: who.ip, reason: known ? null : 'no_account' });
  deps.wakeWorker();
  return { ok: true, resendIn: config.codes.resendCooldown };
}

/**
 * The SMS send: the gates first (country allow-list, the kinds of numbers texted, caps per IP and
 * per number prefix, the conversion guard against SMS pumping), then the code and the text.
 */
async function sendBySms(deps: CodeSendDeps, flowKey: string, to: SmsRecipient, who: Requester, connectionId?: string): Promise<SmsSendResult> {
  const phone = { value: to.phone, country: to.country };
  const { config, db } = deps;
  const connection = smsConnection(config, connectionId);
  if (!connection) return { ok: false, reason: 'disabled', retryAfter: 0 };
  const audit = { clientId: who.clientId, identifier: phone.value, ip: who.ip };
  if (!phone.country || !connection.allowedCountries.includes(phone.country)) {
    await recordAudit(db, { type: 'sms.refused', ...audit, reason: `country ${phone.country ?? 'unknown'}` });
    return { ok: false, reason: 'country', retryAfter: 0 };
  }
  // Texts to numbers that cannot receive them, or that forward them to someone paid per message
  // (personal, VoIP, pager ranges), cost money and sign no one in.
  const type = parsePhone(phone.value)?.type;
  if (!type || !(connection.numberTypes as readonly string[]).includes(type)) {
    await recordAudit(db, { type: 'sms.refused', ...audit, reason: `number type ${type ?? 'unknown'}` });
    return { ok: false, reason: 'number_type', retryAfter: 0 };
  }
  const policy = { ...config.codes, ...config.rateLimits, sendsPerIpPerHour: connection.sendsPerIpPerHour, ipBucket: 'sms' };
  const limited = await checkSend(db, policy, phone.value, who);
  if (limited.limited) {
    await recordAudit(db, { type: 'code.send_limited', ...audit, reason: limited.reason });
    return { ok: false, reason: limited.reason, retryAfter: limited.retryAfter };
  }
  const prefix = phonePrefix(phone.value);
  if ((await check(db, SMS_PER_PREFIX, [prefix], connection)).kind !== 'allow') {
    deps.log.warn({ alert: 'sms_prefix_cap', prefix, ip: who.ip, clientId: who.clientId }, 'SMS sends to this number prefix hit their hourly cap');
    await recordAudit(db, { type: 'code.send_limited', ...audit, reason: 'prefix' });
    return { ok: false, reason: 'prefix', retryAfter: 3600 };
  }
  const slowed = await conversionDelay(db, phone.value, who.ip, connection.minConversion, deps.log);
  if (slowed > 0) {
    await recordAudit(db, { type: 'code.send_limited', ...audit, reason: 'conversion' });
    return { ok: false, reason: 'slowed', retryAfter: slowed };
  }

  const { code, row } = newCode(config.codes, deps.keyring, flowKey, phone.value);
  // The same work for every number, known or not, so timing tells nothing: with sign-up closed,
  // the worker drops texts to numbers without an account (textAccountsOnly), after the answer.
  // Such codes are never verified, so they count against the prefix's conversion like any other.
  const host = new URL(config.issuer).hostname;
  const text = await deps.renderer.text('code', who.locale, { code, host, minutes: Math.round(config.codes.ttl / 60) });
  // The code, its text and the audit event in one batch, as an email's (sendByEmail).
  const message = { channel: 'sms', connectionId: connection.id, recipient: phone.value, subject: '', text } as const;
  await insertCodeWithMessage(db, row, message, { type: 'code.sent', ...audit, reason: 'sms' });
  deps.wakeWorker();
  await recordSmsSent(db, phone.value);
  return { ok: true, resendIn: config.codes.resendCooldown };
}

type Failure = Exclude<CheckResult, { ok: true }>;

/**
 * Limits, the compare and failure accounting; `consume: false` only tests the code (auth0-js's
 * verify step). The attempt is reserved as a failure before the compare (throttle.ts), so parallel
 * guesses cannot slip past a delay; a right code takes the reservation back.
 */
async function testCode(deps: CodeCheckDeps, flowKey: string, code: string, who: Requester, consume: boolean, options: CheckOptions) {
  const { config, db } = deps;
  const row = options.live ?? (await findLiveCode(db, flowKey));
  const perMinute = options.checksPerClientPerMinute;
  const client = perMinute ? { clientId: who.clientId, max: perMinute } : undefined;
  const limited = await reserveVerify(db, throttlePolicy(config, undefined, client), row?.identifier, who);
  if (limited.limited) return { ok: false, reason: 'delayed', retryAfter: limited.retryAfter } satisfies Failure;
  if (!row) return { ok: false, reason: 'missing' } satisfies Failure;
  const result = await verifyCode(db, config.codes, deps.keyring, row, code, new Date(), consume);
  if (!result.ok) {
    await recordAudit(db, { type: 'code.failed', clientId: who.clientId, identifier: row.identifier, ip: who.ip, reason: result.reason });
    return { ok: false, reason: result.reason, attemptsLeft: result.attemptsLeft } satisfies Failure;
  }
  await settleVerify(db, limited.reservation);
  return { ok: true as const, row };
}

/** Tells whether `code` is right for `flowKey` without using it up (it still costs an attempt). */
export async function peekCode(deps: CodeCheckDeps, flowKey: string, code: string, who: Requester): Promise<{ ok: true } | Failure> {
  const tested = await testCode(deps, flowKey, code, who, false, {});
  return tested.ok ? { ok: true } : tested;
}

/**
 * Uses up the code of `flowKey` when `code` is right, under the same limits as a sign-in code, and
 * says which address or number it was sent to; no user is looked up or made (a second factor's code:
 * the caller knows whose factor it is).
 */
export async function useFactorCode(deps: CodeCheckDeps, flowKey: string, code: string, who: Requester): Promise<{ ok: true; identifier: string } | Failure> {
  const tested = await testCode(deps, flowKey, code, who, true, {});
  return tested.ok ? { ok: true, identifier: tested.row.identifier } : tested;
}

/** Checks a code for `flowKey`; on success the user (created under an open sign-up policy). */
export async function checkCode(deps: CodeCheckDeps, flowKey: string, code: string, who: Requester, options: CheckOptions = {}): Promise<CheckResult> {
  const { config, db } = deps;
  const tested = await testCode(deps, flowKey, code, who, true, options);
  if (!tested.ok) return tested;
  const { row } = tested;
  const audit = { clientId: who.clientId, identifier: row.identifier, ip: who.ip };
  const phone = isPhoneIdentifier(row.identifier);
  const user = await resolveUser(db, row.identifier, config.signUp);
  if (!user) {
    // Only reachable by guessing a code that was never sent; answer like any wrong code.
    await recordAudit(db, { type: 'code.failed', ...audit, reason: 'no_account' });
    return { ok: false, reason: 'wrong' };
  }
  if (phone) await recordSmsVerified(db, row.identifier);
  // The browser proved the inbox: from now on it has its own limits for this address.
  if (who.browser) await trustBrowser(db, config.codes, row.identifier, who.browser);
  await recordAudit(db, { type: 'login', ...audit, userId: user.id, reason: phone ? 'sms_code' : 'email_code', userAgent: who.userAgent ?? null });
  return { ok: true, user };
}
