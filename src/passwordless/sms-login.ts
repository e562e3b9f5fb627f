// Sending sign-in codes by SMS. Codes, attempts and users are the shared machinery of
// email-login.ts; what is SMS-only lives here: the country allow-list, caps per number prefix and
// per IP, the kinds of numbers texted, the conversion guard against SMS pumping, and the WebOTP
// line in the message.
import { smsConnection } from '../config/connections.js';
import { recordAudit } from '../storage/audit.js';
import { check } from '../risk/check.js';
import { SMS_PER_PREFIX } from '../risk/limits.js';
import { enqueueMessage } from '../storage/outbox.js';
import { issueCode } from './codes.js';
import { parsePhone, phonePrefix } from './identifiers.js';
import { checkSend } from './throttle.js';
import { conversionDelay, recordSmsSent } from './sms-guard.js';
import type { EmailLoginDeps, Requester, SendResult } from './email-login.js';

/** `number_type`: a valid number of a kind the connection does not text (landline, toll-free, VoIP...). */
export type SmsSendResult = SendResult | { ok: false; reason: 'country' | 'number_type' | 'disabled' | 'prefix' | 'slowed'; retryAfter: number };

export async function sendSmsCode(
  deps: EmailLoginDeps,
  flowKey: string,
  phone: { value: string; country: string | undefined },
  who: Requester,
  connectionId?: string,
): Promise<SmsSendResult> {
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

  const { code } = await issueCode(db, config.codes, { keys: deps.codeKeys }, flowKey, phone.value);
  // The same work for every number, known or not, so timing tells nothing: with sign-up closed,
  // the worker drops texts to numbers without an account (textAccountsOnly), after the answer.
  // Such codes are never verified, so they count against the prefix's conversion like any other.
  const host = new URL(config.issuer).hostname;
  const text = await deps.renderer.text('code', who.locale, { code, host, minutes: Math.round(config.codes.ttl / 60) });
  await enqueueMessage(db, { channel: 'sms', connectionId: connection.id, recipient: phone.value, subject: '', text });
  await recordSmsSent(db, phone.value);
  deps.wakeWorker();
  await recordAudit(db, { type: 'code.sent', ...audit, reason: 'sms' });
  return { ok: true, resendIn: config.codes.resendCooldown };
}
