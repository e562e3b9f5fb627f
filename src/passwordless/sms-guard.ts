// Protection against SMS pumping (fraudsters requesting codes to premium or partner numbers to be
// paid per message): codes sent and codes verified are counted per country and per number prefix
// over a day. Where a prefix converts too little, sends to it slow down for each requester network
// apart (one a minute each), so a pumping source cannot take the slot legitimate users need; a
// country that converts too little is alerted on but never slowed, since slowing a whole country is
// a throttle an attacker could aim at everyone there.
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import { claimCooldown, hitWindow, readWindow } from '../storage/counters.js';
import { parsePhone, phonePrefix } from './identifiers.js';
import { requesterNetwork } from './requester-network.js';

const DAY = 86400;
/** Below this many sends a ratio says nothing; a normal day starts with a few unused codes. */
const MIN_SAMPLE = 20;
/** While slowed, one send per (prefix, requester network) per this many seconds. */
const SLOW_SECONDS = 60;

function scopes(e164: string): { country: string | undefined; prefix: string } {
  const country = parsePhone(e164)?.country;
  return { country: country && `country:${country}`, prefix: `prefix:${phonePrefix(e164)}` };
}

function both(e164: string): string[] {
  const { country, prefix } = scopes(e164);
  return country ? [country, prefix] : [prefix];
}

export async function recordSmsSent(db: Db, e164: string): Promise<void> {
  for (const scope of both(e164)) await hitWindow(db, `sms-sent:${scope}`, DAY);
}

export async function recordSmsVerified(db: Db, e164: string): Promise<void> {
  for (const scope of both(e164)) await hitWindow(db, `sms-ok:${scope}`, DAY);
}

/** The day's figures of `scope` when they are enough to judge and below `minConversion`; otherwise null. */
async function lowConversion(db: Db, scope: string, minConversion: number) {
  const sent = await readWindow(db, `sms-sent:${scope}`, DAY);
  if (sent < MIN_SAMPLE) return null;
  const verified = await readWindow(db, `sms-ok:${scope}`, DAY);
  const ratio = verified / sent;
  return ratio < minConversion ? { sent, verified, ratio: Math.round(ratio * 100) / 100 } : null;
}

/**
 * 0 when a send to `e164` from `ip` may go ahead; otherwise seconds to wait, because the number's
 * prefix converts too little and this requester network already had its send this minute.
 */
export async function conversionDelay(db: Db, e164: string, ip: string, minConversion: number, log: Logger): Promise<number> {
  const { country, prefix } = scopes(e164);
  const countryFigures = country ? await lowConversion(db, country, minConversion) : null;
  if (countryFigures) {
    log.warn({ alert: 'sms_low_conversion', scope: country, ...countryFigures, slowed: false }, 'SMS codes to this country are rarely used: possible SMS pumping');
  }
  const prefixFigures = await lowConversion(db, prefix, minConversion);
  if (!prefixFigures) return 0;
  const network = requesterNetwork(ip);
  const wait = await claimCooldown(db, `sms-slow:${prefix}:${network}`, SLOW_SECONDS);
  log.warn(
    { alert: 'sms_low_conversion', scope: prefix, network, ...prefixFigures, slowed: wait > 0 },
    'SMS codes to this prefix are rarely used: possible SMS pumping; sends from this network slowed',
  );
  return wait;
}
