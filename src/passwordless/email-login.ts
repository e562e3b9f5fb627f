// Sign-in with one-time codes, independent of how the user arrived (hosted pages, the Auth0- and
// Userfront-style APIs): send a code by email (SMS sends: sms-login.ts), check any code, find or
// create the user of the verified email address or phone number.
import type { LoadedConfig } from '../config/load.js';
import { emailConnection } from '../config/connections.js';
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import { recordAudit } from '../storage/audit.js';
import { findLiveCode } from '../storage/codes.js';
import { enqueueMessage } from '../storage/outbox.js';
import { findUserByEmail, findUserByPhone, upsertVerifiedEmailUser, upsertVerifiedPhoneUser, type User } from '../storage/users.js';
import { isPhoneIdentifier } from './identifiers.js';
import { recordSmsVerified } from './sms-guard.js';
import { issueCode, verifyCode } from './codes.js';
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

export interface EmailLoginDeps {
  config: LoadedConfig;
  db: Db;
  log: Logger;
  renderer: MessageRenderer;
  codeKeys: string[];
  wakeWorker(): void;
}

export interface Requester {
  ip: string;
  clientId: string;
  locale: string;
  /** The hosted pages' browser id (signed cookie): a browser that signed in as an address keeps its own limits there. */
  browser?: string;
}

export type SendResult = { ok: true; resendIn: number } | { ok: false; reason: 'cooldown' | 'identifier' | 'ip' | 'client'; retryAfter: number };

export type CheckResult =
  | { ok: true; user: User }
  | { ok: false; reason: 'missing' | 'expired' | 'exhausted' | 'wrong' | 'used' | 'delayed'; retryAfter?: number; attemptsLeft?: number };

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
}

export interface CheckOptions {
  /** The client's per-minute cap of code checks (the OTP grant), counted only once the narrower limits passed. */
  checksPerClientPerMinute?: number;
}

/** The limits of code sends and checks; `client` adds the client-wide cap of an API flow. */
export function throttlePolicy(config: LoadedConfig, sendsPerIpPerHour?: number, client?: ThrottlePolicy['client']): ThrottlePolicy {
  const publicCap = sendsPerIpPerHour ? { sendsPerIpPerHour, ipBucket: 'public' } : {};
  return { ...config.codes, ...config.rateLimits, ...publicCap, client };
}

/**
 * Sends a sign-in code to `email` for `flowKey`. The answer is the same whether or not the email
 * belongs to a user: with sign-up closed, an unknown address gets a "no account" notice instead.
 */
export async function sendEmailCode(
  deps: EmailLoginDeps,
  flowKey: string,
  email: string,
  who: Requester,
  options: SendOptions = {},
): Promise<SendResult> {
  const { config, db } = deps;
  const client = options.sendsPerClientPerHour ? { clientId: who.clientId, max: options.sendsPerClientPerHour } : undefined;
  const limited = await checkSend(db, throttlePolicy(config, options.sendsPerIpPerHour, client), email, who);
  if (limited.limited) {
    await recordAudit(db, { type: 'code.send_limited', clientId: who.clientId, identifier: email, ip: who.ip, reason: limited.reason });
    return { ok: false, reason: limited.reason, retryAfter: limited.retryAfter };
  }
  const { code, expiresAt } = await issueCode(db, config.codes, { keys: deps.codeKeys }, flowKey, email);
  const user = await findUserByEmail(db, email);
  const known = config.signUp === 'open' || user !== null;
  const minutes = Math.round(config.codes.ttl / 60);
  // The link is made either way so known and unknown addresses cost the same; only owners get it.
  const url = options.link ? await options.link(code) : null;
  const message = known
    ? await deps.renderer.email(options.template ?? 'code', who.locale, { code, minutes, url })
    : await deps.renderer.email('no-account', who.locale, {});
  const connection = emailConnection(config, options.connectionId);
  if (connection?.delivery?.type === 'webhook') {
    const body = webhookPayload({ email, code: known ? code : null, url: known ? url : null, expiresAt, message: message.text, userId: user?.id ?? null, clientId: who.clientId });
    await enqueueMessage(db, { channel: 'webhook', connectionId: connection.id, recipient: email, subject: message.subject, text: JSON.stringify(body) });
  } else {
    await enqueueMessage(db, { channel: 'email', recipient: email, ...message });
  }
  deps.wakeWorker();
  await recordAudit(db, { type: 'code.sent', clientId: who.clientId, identifier: email, ip: who.ip, reason: known ? null : 'no_account' });
  return { ok: true, resendIn: config.codes.resendCooldown };
}

type Failure = Exclude<CheckResult, { ok: true }>;

/**
 * Limits, the compare and failure accounting; `consume: false` only tests the code (auth0-js's
 * verify step). The attempt is reserved as a failure before the compare (throttle.ts), so parallel
 * guesses cannot slip past a delay; a right code takes the reservation back.
 */
async function testCode(deps: EmailLoginDeps, flowKey: string, code: string, who: Requester, consume: boolean, options: CheckOptions) {
  const { config, db } = deps;
  const row = await findLiveCode(db, flowKey);
  const perMinute = options.checksPerClientPerMinute;
  const client = perMinute ? { clientId: who.clientId, max: perMinute } : undefined;
  const limited = await reserveVerify(db, throttlePolicy(config, undefined, client), row?.identifier, who);
  if (limited.limited) return { ok: false, reason: 'delayed', retryAfter: limited.retryAfter } satisfies Failure;
  if (!row) return { ok: false, reason: 'missing' } satisfies Failure;
  const result = await verifyCode(db, config.codes, { keys: deps.codeKeys }, row, code, new Date(), consume);
  if (!result.ok) {
    await recordAudit(db, { type: 'code.failed', clientId: who.clientId, identifier: row.identifier, ip: who.ip, reason: result.reason });
    return { ok: false, reason: result.reason, attemptsLeft: result.attemptsLeft } satisfies Failure;
  }
  await settleVerify(db, limited.reservation);
  return { ok: true as const, row };
}

/** Tells whether `code` is right for `flowKey` without using it up (it still costs an attempt). */
export async function peekEmailCode(deps: EmailLoginDeps, flowKey: string, code: string, who: Requester): Promise<{ ok: true } | Failure> {
  const tested = await testCode(deps, flowKey, code, who, false, {});
  return tested.ok ? { ok: true } : tested;
}

/** Checks a code for `flowKey`; on success the user (created under an open sign-up policy). */
export async function checkEmailCode(deps: EmailLoginDeps, flowKey: string, code: string, who: Requester, options: CheckOptions = {}): Promise<CheckResult> {
  const { config, db } = deps;
  const tested = await testCode(deps, flowKey, code, who, true, options);
  if (!tested.ok) return tested;
  const { row } = tested;
  const audit = { clientId: who.clientId, identifier: row.identifier, ip: who.ip };
  const phone = isPhoneIdentifier(row.identifier);
  const existing = phone ? await findUserByPhone(db, row.identifier) : await findUserByEmail(db, row.identifier);
  if (!existing && config.signUp !== 'open') {
    // Only reachable by guessing a code that was never sent; answer like any wrong code.
    await recordAudit(db, { type: 'code.failed', ...audit, reason: 'no_account' });
    return { ok: false, reason: 'wrong' };
  }
  const user = phone ? await upsertVerifiedPhoneUser(db, row.identifier) : await upsertVerifiedEmailUser(db, row.identifier);
  if (phone) await recordSmsVerified(db, row.identifier);
  // The browser proved the inbox: from now on it has its own limits for this address.
  if (who.browser) await trustBrowser(db, config.codes, row.identifier, who.browser);
  await recordAudit(db, { type: 'login', ...audit, userId: user.id, reason: phone ? 'sms_code' : 'email_code' });
  return { ok: true, user };
}
