// Send and verify limits for one-time codes (DESIGN.md section 5). Limits that an attacker could
// aim at a victim are keyed per (identifier, requester scope): the scope is the requester network
// (IPv4 /24, IPv6 /64), or the browser itself when it recently signed in as that identifier. Per
// identifier there are only ceilings that a scope with a clean record gets past, so someone without
// the victim's inbox cannot stop the victim's own browser from getting and using a code, while
// guessing stays bounded (per code, per scope with growing delays, per identifier per day).
import { requesterNetwork } from './requester-network.js';
import type { Db } from '../storage/db.js';
import { claimCooldown, clearCounter, cooldownLeft, hitWindow, readWindow, reserveFailure, unhitWindow, windowStartOf } from '../storage/counters.js';

export interface ThrottlePolicy {
  resendCooldown: number;
  /** Sends per (identifier, scope) per hour. */
  sendsPerHour: number;
  /** Sends per identifier per hour from all scopes, beyond which each scope gets only its first. */
  sendsPerIdentifierPerHour: number;
  freeFailures: number;
  maxFailureDelay: number;
  /** Wrong codes per identifier per day from all scopes, beyond which only clean scopes may try. */
  failuresPerIdentifierPerDay: number;
  /** How long a browser that signed in as an identifier is its own scope, in seconds. */
  trustedBrowserTtl: number;
  sendsPerIpPerHour: number;
  verifiesPerIpPerMinute: number;
  /** Separate per-IP bucket (public API clients are counted apart, under their own cap). */
  ipBucket?: string;
  /** Client-wide cap, counted only after every narrower limit passed. */
  client?: { key: string; max: number; window: number };
}

/** Who asks: the IP and, from the hosted pages, the browser's id (a signed cookie). */
export interface Asker {
  ip: string;
  browser?: string;
}

export type Limited =
  | { limited: false }
  | { limited: true; retryAfter: number; reason: 'cooldown' | 'identifier' | 'ip' | 'client' };

const HOUR = 3600;
const DAY = 86400;

const trustKey = (identifier: string, browser: string) => `trust:${identifier}:${browser}`;

/** The scope limits are keyed by, and whether it is a browser trusted for `identifier`. */
async function scopeOf(db: Db, p: ThrottlePolicy, identifier: string, who: Asker, now: Date) {
  if (who.browser && (await readWindow(db, trustKey(identifier, who.browser), p.trustedBrowserTtl, now)) > 0) {
    return { scope: `b:${who.browser}`, trusted: true };
  }
  return { scope: `n:${requesterNetwork(who.ip)}`, trusted: false };
}

/** Remembers that `browser` signed in as `identifier`: it gets its own limits there for a while. */
export async function trustBrowser(db: Db, p: Pick<ThrottlePolicy, 'trustedBrowserTtl'>, identifier: string, browser: string, now = new Date()) {
  await clearCounter(db, trustKey(identifier, browser));
  await hitWindow(db, trustKey(identifier, browser), p.trustedBrowserTtl, now);
}

async function clientLimited(db: Db, p: ThrottlePolicy, now: Date): Promise<Limited> {
  if (p.client && (await hitWindow(db, p.client.key, p.client.window, now)) > p.client.max) {
    return { limited: true, retryAfter: p.client.window, reason: 'client' };
  }
  return { limited: false };
}

/** Called before sending a code; claims the cooldown when the send may go ahead. */
export async function checkSend(db: Db, p: ThrottlePolicy, identifier: string, who: Asker, now = new Date()): Promise<Limited> {
  const ipKey = p.ipBucket ? `send-ip-${p.ipBucket}:${who.ip}` : `send-ip:${who.ip}`;
  if ((await hitWindow(db, ipKey, HOUR, now)) > p.sendsPerIpPerHour) return { limited: true, retryAfter: HOUR, reason: 'ip' };
  const { scope, trusted } = await scopeOf(db, p, identifier, who, now);
  const wait = await claimCooldown(db, `send-cool:${identifier}:${scope}`, p.resendCooldown, now);
  if (wait > 0) return { limited: true, retryAfter: wait, reason: 'cooldown' };
  const mine = await hitWindow(db, `send-hour:${identifier}:${scope}`, HOUR, now);
  if (mine > p.sendsPerHour) return { limited: true, retryAfter: HOUR, reason: 'identifier' };
  // Past the identifier's ceiling a scope still gets its first send of the hour, so a flood from
  // other networks cannot keep the victim's own browser from getting a code.
  const all = await hitWindow(db, `send-hour:${identifier}`, HOUR, now);
  if (!trusted && all > p.sendsPerIdentifierPerHour && mine > 1) return { limited: true, retryAfter: HOUR, reason: 'identifier' };
  return clientLimited(db, p, now);
}

/** Seconds before this requester may send to `identifier` again (for the page's countdown). */
export async function sendCooldownLeft(db: Db, p: ThrottlePolicy, identifier: string, who: Asker, now = new Date()): Promise<number> {
  const { scope } = await scopeOf(db, p, identifier, who, now);
  return cooldownLeft(db, `send-cool:${identifier}:${scope}`, p.resendCooldown, now);
}

/** Delay after the n-th failure in a streak: none for the first few, then doubling up to the cap. */
export function failureDelay(p: Pick<ThrottlePolicy, 'freeFailures' | 'maxFailureDelay'>, failures: number): number {
  if (failures <= p.freeFailures) return 0;
  return Math.min(2 ** (failures - p.freeFailures), p.maxFailureDelay);
}

/** An attempt reserved by `reserveVerify`; `settleVerify` takes it back when the code was right. */
export interface VerifyReservation {
  streakKey?: string;
  dayKey?: string;
}

/**
 * Called before checking a code for `identifier` (undefined when the flow has no code): the per-IP
 * rate, then the attempt is reserved as a failure of this scope (atomically, refused during its
 * delay) and of the identifier's day; past the day's ceiling only a scope without failures may try.
 * The client-wide cap comes last, so requests refused above never count against the client.
 */
export async function reserveVerify(
  db: Db,
  p: ThrottlePolicy,
  identifier: string | undefined,
  who: Asker,
  now = new Date(),
): Promise<Exclude<Limited, { limited: false }> | { limited: false; reservation: VerifyReservation }> {
  if ((await hitWindow(db, `verify-ip:${who.ip}`, 60, now)) > p.verifiesPerIpPerMinute) return { limited: true, retryAfter: 60, reason: 'ip' };
  const reservation: VerifyReservation = {};
  if (identifier) {
    const { scope, trusted } = await scopeOf(db, p, identifier, who, now);
    reservation.streakKey = `fail:${identifier}:${scope}`;
    const streak = await reserveFailure(db, reservation.streakKey, DAY, (n) => failureDelay(p, n), now);
    if (!streak.ok) return { limited: true, retryAfter: streak.retryAfter, reason: 'identifier' };
    if (!trusted) {
      reservation.dayKey = `fail-day:${identifier}`;
      const today = await hitWindow(db, reservation.dayKey, DAY, now);
      if (today > p.failuresPerIdentifierPerDay && streak.failures > 1) {
        const started = (await windowStartOf(db, reservation.dayKey))?.getTime() ?? now.getTime();
        return { limited: true, retryAfter: Math.max(1, Math.ceil((started + DAY * 1000 - now.getTime()) / 1000)), reason: 'identifier' };
      }
    }
  }
  const client = await clientLimited(db, p, now);
  return client.limited ? client : { limited: false as const, reservation };
}

/** After a right code: the reserved attempt was no failure; the scope's streak starts over. */
export async function settleVerify(db: Db, reservation: VerifyReservation): Promise<void> {
  if (reservation.streakKey) await clearCounter(db, reservation.streakKey);
  if (reservation.dayKey) await unhitWindow(db, reservation.dayKey);
}
