// Protection against SMS pumping (fraudsters requesting codes to premium or partner numbers to be
// paid per message): codes sent and codes verified are counted per country and per number prefix
// over a day. Where a prefix converts too little, sends to it slow down for each requester network
// apart (one a minute each), so a pumping source cannot take the slot legitimate users need; a
// country that converts too little is alerted on but never slowed, since slowing a whole country is
// a throttle an attacker could aim at everyone there.
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import { check, countOf } from './check.js';
import { SMS_SENT, SMS_SLOWED, SMS_VERIFIED } from './limits.js';

/** Below this many sends a ratio says nothing; a normal day starts with a few unused codes. */
const MIN_SAMPLE = 20;

/** Where a number is: its country (ISO code, when known) and its prefix (passwordless/identifiers.ts). */
export interface PhoneArea {
  country: string | undefined;
  prefix: string;
}

function scopes(area: PhoneArea): { country: string | undefined; prefix: string } {
  return { country: area.country && `country:${area.country}`, prefix: `prefix:${area.prefix}` };
}

function both(area: PhoneArea): string[] {
  const { country, prefix } = scopes(area);
  return country ? [country, prefix] : [prefix];
}

export async function recordSmsSent(db: Db, area: PhoneArea): Promise<void> {
  for (const scope of both(area)) await check(db, SMS_SENT, [scope], undefined);
}

export async function recordSmsVerified(db: Db, area: PhoneArea): Promise<void> {
  for (const scope of both(area)) await check(db, SMS_VERIFIED, [scope], undefined);
}

/** The day's figures of `scope` when they are enough to judge and below `minConversion`; otherwise null. */
async function lowConversion(db: Db, scope: string, minConversion: number) {
  const sent = await countOf(db, SMS_SENT, [scope], undefined);
  if (sent < MIN_SAMPLE) return null;
  const verified = await countOf(db, SMS_VERIFIED, [scope], undefined);
  const ratio = verified / sent;
  return ratio < minConversion ? { sent, verified, ratio: Math.round(ratio * 100) / 100 } : null;
}

/**
 * 0 when a send to a number of `area` from requester `network` may go ahead; otherwise seconds to
 * wait, because the number's prefix converts too little and this network already had its send this minute.
 */
export async function conversionDelay(db: Db, area: PhoneArea, network: string, minConversion: number, log: Logger): Promise<number> {
  const { country, prefix } = scopes(area);
  const countryFigures = country ? await lowConversion(db, country, minConversion) : null;
  if (countryFigures) {
    log.warn({ alert: 'sms_low_conversion', scope: country, ...countryFigures, slowed: false }, 'SMS codes to this country are rarely used: possible SMS pumping');
  }
  const prefixFigures = await lowConversion(db, prefix, minConversion);
  if (!prefixFigures) return 0;
  const slowed = await check(db, SMS_SLOWED, [prefix, network], undefined);
  const wait = slowed.kind === 'allow' ? 0 : slowed.retryAfter;
  log.warn(
    { alert: 'sms_low_conversion', scope: prefix, network, ...prefixFigures, slowed: wait > 0 },
    'SMS codes to this prefix are rarely used: possible SMS pumping; sends from this network slowed',
  );
  return wait;
}
