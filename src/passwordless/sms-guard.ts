// The SMS pumping guard (risk/sms-pumping.ts) for a number and a requester IP: this layer knows
// phone numbers and networks, so it finds the number's country and prefix and the IP's network.
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import * as pumping from '../risk/sms-pumping.js';
import { parsePhone, phonePrefix } from './identifiers.js';
import { requesterNetwork } from './requester-network.js';

function areaOf(e164: string): pumping.PhoneArea {
  return { country: parsePhone(e164)?.country, prefix: phonePrefix(e164) };
}

export async function recordSmsSent(db: Db, e164: string): Promise<void> {
  await pumping.recordSmsSent(db, areaOf(e164));
}

export async function recordSmsVerified(db: Db, e164: string): Promise<void> {
  await pumping.recordSmsVerified(db, areaOf(e164));
}

/** 0 when a send to `e164` from `ip` may go ahead; otherwise seconds to wait (see risk/sms-pumping.ts). */
export async function conversionDelay(db: Db, e164: string, ip: string, minConversion: number, log: Logger): Promise<number> {
  return pumping.conversionDelay(db, areaOf(e164), requesterNetwork(ip), minConversion, log);
}
