// Send and verify limits for one-time codes (DESIGN.md section 5): a cooldown and an hourly cap per
// identifier, a cap per IP, and failure streaks per identifier that grow delays instead of locking
// the account, so an attacker cannot lock a victim out by failing on purpose.
import type { Db } from '../storage/db.js';
import { blockedFor, claimCooldown, clearCounter, hitWindow, recordFailure } from '../storage/counters.js';

export interface ThrottlePolicy {
  resendCooldown: number;
  sendsPerHour: number;
  freeFailures: number;
  maxFailureDelay: number;
  sendsPerIpPerHour: number;
  verifiesPerIpPerMinute: number;
  /** Separate per-IP bucket (public API clients are counted apart, under their own cap). */
  ipBucket?: string;
}

export type Limited = { limited: false } | { limited: true; retryAfter: number; reason: 'cooldown' | 'identifier' | 'ip' };

const HOUR = 3600;

/** Called before sending a code; claims the cooldown when the send may go ahead. */
export async function checkSend(db: Db, p: ThrottlePolicy, identifier: string, ip: string, now = new Date()): Promise<Limited> {
  const ipKey = p.ipBucket ? `send-ip-${p.ipBucket}:${ip}` : `send-ip:${ip}`;
  if ((await hitWindow(db, ipKey, HOUR, now)) > p.sendsPerIpPerHour) return { limited: true, retryAfter: HOUR, reason: 'ip' };
  const wait = await claimCooldown(db, `send-cool:${identifier}`, p.resendCooldown, now);
  if (wait > 0) return { limited: true, retryAfter: wait, reason: 'cooldown' };
  if ((await hitWindow(db, `send-hour:${identifier}`, HOUR, now)) > p.sendsPerHour) {
    return { limited: true, retryAfter: HOUR, reason: 'identifier' };
  }
  return { limited: false };
}

/** Called before checking a code: per-IP rate and the identifier's failure delay. */
export async function checkVerify(db: Db, p: ThrottlePolicy, identifier: string | undefined, ip: string, now = new Date()): Promise<Limited> {
  if ((await hitWindow(db, `verify-ip:${ip}`, 60, now)) > p.verifiesPerIpPerMinute) return { limited: true, retryAfter: 60, reason: 'ip' };
  if (identifier) {
    const wait = await blockedFor(db, `fail:${identifier}`, now);
    if (wait > 0) return { limited: true, retryAfter: wait, reason: 'identifier' };
  }
  return { limited: false };
}

/** Delay after the n-th failure in a streak: none for the first few, then doubling up to the cap. */
export function failureDelay(p: ThrottlePolicy, failures: number): number {
  if (failures <= p.freeFailures) return 0;
  return Math.min(2 ** (failures - p.freeFailures), p.maxFailureDelay);
}

export function recordVerifyFailure(db: Db, p: ThrottlePolicy, identifier: string, now = new Date()): Promise<number> {
  return recordFailure(db, `fail:${identifier}`, 86400, (n) => failureDelay(p, n), now);
}

export function clearVerifyFailures(db: Db, identifier: string): Promise<void> {
  return clearCounter(db, `fail:${identifier}`);
}
