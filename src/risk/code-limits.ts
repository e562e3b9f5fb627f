// Send and verify limits for one-time codes (DESIGN.md section 5). Limits that an attacker could
// aim at a victim are keyed per (identifier, requester scope): the scope is the requester network
// (IPv4 /24, IPv6 /64), or the browser itself when it recently signed in as that identifier. Per
// identifier there are only ceilings that a scope with a clean record gets past, so someone without
// the victim's inbox cannot stop the victim's own browser from getting and using a code, while
// guessing stays bounded (per code, per scope with growing delays, per identifier per day).
import type { Db } from '../storage/db.js';
import { SEND_CHAIN, VERIFY_CHAIN } from '../storage/counter-chains.js';
import { checkChain, countOf, forget, forgetAndTakeBack, link, renew, waitLeft, type Decision } from './check.js';
import {
  CHECKS_PER_CLIENT,
  CHECKS_PER_IP,
  FAILURE_STREAK,
  FAILURES_PER_IDENTIFIER,
  RESEND_COOLDOWN,
  SENDS_PER_CLIENT,
  SENDS_PER_IDENTIFIER,
  SENDS_PER_IP,
  SENDS_PER_SCOPE,
  TRUSTED_BROWSER,
  type CodeLimitSettings,
  type Limit,
  type LimitReason,
} from './limits.js';

/** Who asks: the IP, its network (passwordless/requester-network.ts) and, from the hosted pages, the browser's id. */
export interface Asker {
  ip: string;
  network: string;
  browser?: string;
}

export type Refused = { limited: true; retryAfter: number; reason: LimitReason };
export type Limited = { limited: false } | Refused;

/** An attempt reserved by `reserveVerify`; `settleVerify` takes it back when the code was right. */
export interface VerifyReservation {
  streak?: [identifier: string, scope: string];
  day?: [identifier: string];
}

type Settings = CodeLimitSettings;

/**
 * The identifier a user's second-factor codes (authenticator app, recovery codes) are limited under:
 * the limits of one-time codes, one budget per user. No email address or phone number looks like it.
 */
export function factorIdentifier(userId: string): string {
  return `mfa:${userId}`;
}

/** The limited answer for a decision that is not an allow. */
function limitedBy(limit: Pick<Limit, 'reason'>, decision: Exclude<Decision, { kind: 'allow' }>): Refused {
  return { limited: true, retryAfter: decision.retryAfter, reason: limit.reason! };
}

/** The scope limits are keyed by, and whether it is a browser trusted for `identifier`. */
async function scopeOf(db: Db, p: Settings, identifier: string, who: Asker, now: Date) {
  if (who.browser && (await countOf(db, TRUSTED_BROWSER, [identifier, who.browser], p, now)) > 0) {
    return { scope: `b:${who.browser}`, trusted: true };
  }
  return { scope: `n:${who.network}`, trusted: false };
}

/** Remembers that `browser` signed in as `identifier`: it gets its own limits there for a while. */
export async function trustBrowser(db: Db, p: Pick<Settings, 'trustedBrowserTtl'>, identifier: string, browser: string, now = new Date()) {
  await renew(db, TRUSTED_BROWSER, [identifier, browser], p, now);
}

/**
 * Called before sending a code; claims the cooldown when the send may go ahead. Each limit counts
 * only once the ones before it let the send through (on PostgreSQL all in one statement). With
 * `userEmail`, the same statement reads the id of that address's user (`userId`, null for none).
 */
export async function checkSend(db: Db, p: Settings, identifier: string, who: Asker, now = new Date(), userEmail?: string): Promise<Limited & { userId?: string | null }> {
  const { scope, trusted } = await scopeOf(db, p, identifier, who, now);
  const links = [
    link(SENDS_PER_IP, [who.ip, p.ipBucket], p),
    link(RESEND_COOLDOWN, [identifier, scope], p),
    link(SENDS_PER_SCOPE, [identifier, scope], p),
    // Past the identifier's ceiling a scope still gets its first send of the hour, so a flood from
    // other networks cannot keep the victim's own browser from getting a code.
    link(SENDS_PER_IDENTIFIER, [identifier], p, { enforced: !trusted, passIfPreviousAtMost: 1 }),
    // The client-wide cap last, so sends refused above never count against the client.
    ...(p.client ? [link(SENDS_PER_CLIENT, [p.client.clientId], p.client)] : []),
  ];
  const { decisions, stoppedAt, read } = await checkChain(db, SEND_CHAIN, links, now, [userEmail ?? null]);
  if (stoppedAt === undefined) return { limited: false, userId: typeof read === 'string' ? read : null };
  return limitedBy(links[stoppedAt]!.limit, decisions[stoppedAt] as Exclude<Decision, { kind: 'allow' }>);
}

/** Seconds before this requester may send to `identifier` again (for the page's countdown). */
export async function sendCooldownLeft(db: Db, p: Settings, identifier: string, who: Asker, now = new Date()): Promise<number> {
  const { scope } = await scopeOf(db, p, identifier, who, now);
  return waitLeft(db, RESEND_COOLDOWN, [identifier, scope], p, now);
}

/**
 * Called before checking a code for `identifier` (undefined when the flow has no code): the per-IP
 * rate, then the attempt is reserved as a failure of this scope (atomically, refused during its
 * delay) and of the identifier's day; past the day's ceiling only a scope without failures may try.
 * The client-wide cap comes last, so requests refused above never count against the client. All
 * in one chain (one statement on PostgreSQL), with the read of the trusted-browser mark that
 * picks the scope: a trusted browser's attempts do not count against the identifier's day.
 */
export async function reserveVerify(
  db: Db,
  p: Settings,
  identifier: string | undefined,
  who: Asker,
  now = new Date(),
): Promise<Refused | { limited: false; reservation: VerifyReservation }> {
  const network = `n:${who.network}`;
  const browser = who.browser && `b:${who.browser}`;
  const links = [
    link(CHECKS_PER_IP, [who.ip], p),
    identifier ? link(FAILURE_STREAK, [identifier, network], p, browser ? { whenTrusted: [identifier, browser] } : {}) : undefined,
    identifier ? link(FAILURES_PER_IDENTIFIER, [identifier], p, { passIfPreviousAtMost: 1, whenTrusted: null }) : undefined,
    p.client ? link(CHECKS_PER_CLIENT, [p.client.clientId], p.client) : undefined,
  ];
  const trust = identifier && who.browser ? link(TRUSTED_BROWSER, [identifier, who.browser], p) : undefined;
  const { decisions, stoppedAt, trusted } = await checkChain(db, VERIFY_CHAIN, links, now, undefined, trust);
  if (stoppedAt !== undefined) return limitedBy(links[stoppedAt]!.limit, decisions[stoppedAt] as Exclude<Decision, { kind: 'allow' }>);
  const reservation: VerifyReservation = {};
  if (identifier) {
    reservation.streak = [identifier, trusted && browser ? browser : network];
    if (!trusted) reservation.day = [identifier];
  }
  return { limited: false as const, reservation };
}

/** After a right code: the reserved attempt was no failure; the scope's streak starts over. */
export async function settleVerify(db: Db, reservation: VerifyReservation): Promise<void> {
  const { streak, day } = reservation;
  if (streak && day) await forgetAndTakeBack(db, [FAILURE_STREAK, streak], [FAILURES_PER_IDENTIFIER, day]);
  else if (streak) await forget(db, FAILURE_STREAK, streak);
}
