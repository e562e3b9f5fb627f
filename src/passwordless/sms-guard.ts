// Protection against SMS pumping (fraudsters requesting codes to premium or partner numbers to be
// paid per message): codes sent and codes verified are counted per country and per number prefix
// over a day; where few sent codes are ever used, further sends are slowed and an alert is logged.
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import { claimCooldown, hitWindow, readWindow } from '../storage/counters.js';
import { parsePhone, phonePrefix } from './identifiers.js';

const DAY = 86400;
/** Below this many sends a ratio says nothing; a normal day starts with a few unused codes. */
const MIN_SAMPLE = 20;
/** While slowed, one send per scope per this many seconds. */
const SLOW_SECONDS = 60;

function scopes(e164: string): string[] {
  const country = parsePhone(e164)?.country;
  return [...(country ? [`country:${country}`] : []), `prefix:${phonePrefix(e164)}`];
}

export async function recordSmsSent(db: Db, e164: string): Promise<void> {
  for (const scope of scopes(e164)) await hitWindow(db, `sms-sent:${scope}`, DAY);
}

export async function recordSmsVerified(db: Db, e164: string): Promise<void> {
  for (const scope of scopes(e164)) await hitWindow(db, `sms-ok:${scope}`, DAY);
}

/** 0 when a send may go ahead; otherwise seconds to wait, because its country or prefix converts too little. */
export async function conversionDelay(db: Db, e164: string, minConversion: number, log: Logger): Promise<number> {
  for (const scope of scopes(e164)) {
    const sent = await readWindow(db, `sms-sent:${scope}`, DAY);
    if (sent < MIN_SAMPLE) continue;
    const verified = await readWindow(db, `sms-ok:${scope}`, DAY);
    const ratio = verified / sent;
    if (ratio >= minConversion) continue;
    const wait = await claimCooldown(db, `sms-slow:${scope}`, SLOW_SECONDS);
    log.warn({ alert: 'sms_low_conversion', scope, sent, verified, ratio: Math.round(ratio * 100) / 100, slowed: wait > 0 }, 'SMS codes here are rarely used: possible SMS pumping; sends slowed');
    if (wait > 0) return wait;
  }
  return 0;
}
