// A user's second factors as a whole: the list (Auth0's authenticators), removal, and the one door a
// route checks a factor code through. That door puts every attempt behind the limits of one-time
// codes (risk/code-limits.ts) under the user's `mfa:` identifier: the attempt is reserved as a
// failure before the compare, so parallel guesses cannot slip past a delay, and a right code takes
// it back. Like codes, the delays are per requester network (or trusted browser), so someone
// guessing from elsewhere slows only themselves, never the user's own sign-in.
import { factorIdentifier } from '../../risk/code-limits.js';
import { recordAudit } from '../../storage/audit.js';
import { countRecoveryCodes, deleteAuthenticator, listAuthenticators, type AuthenticatorType } from '../../storage/mfa.js';
import { throttlePolicy } from '../one-time-codes.js';
import { reserveVerify, settleVerify, trustBrowser } from '../throttle.js';
import type { MfaDeps } from './keys.js';
import { recoveryAuthenticatorId } from './keys.js';
import { useRecoveryCode } from './recovery-codes.js';
import { confirmTotp, verifyTotp } from './totp.js';

/** An enrolled (or half-enrolled) factor as a user, a page or the API may see it: never a secret. */
export interface Factor {
  id: string;
  type: AuthenticatorType;
  /** False while an enrolment waits for its first code; such a factor is no second factor yet. */
  confirmed: boolean;
  name: string | null;
  phoneNumber: string | null;
  email: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** Recovery codes left (the recovery-code factor only). */
  remaining?: number;
}

/** The user's factors, oldest first (the first is the default one to challenge). */
export async function listFactors(deps: Pick<MfaDeps, 'db'>, userId: string): Promise<Factor[]> {
  const rows = await listAuthenticators(deps.db, userId);
  const factors: Factor[] = [];
  for (const row of rows) {
    const { id, type, confirmed, name, phoneNumber, email, createdAt, lastUsedAt } = row;
    const factor: Factor = { id, type, confirmed, name, phoneNumber, email, createdAt, lastUsedAt };
    if (type === 'recovery-code') factor.remaining = await countRecoveryCodes(deps.db, userId);
    factors.push(factor);
  }
  return factors;
}

/**
 * Removes one of the user's factors (its recovery codes with it); false when the user has no such
 * factor, so an id from a request cannot reach someone else's. Whether the policy lets the last one
 * go is the caller's question.
 */
export async function removeFactor(deps: Pick<MfaDeps, 'db'>, userId: string, authenticatorId: string, audit: FactorAsker): Promise<boolean> {
  const removed = await deleteAuthenticator(deps.db, userId, authenticatorId);
  if (removed) await recordAudit(deps.db, { type: 'mfa.removed', userId, clientId: audit.clientId ?? null, ip: audit.ip, reason: authenticatorId.split('|')[0] });
  return removed;
}

/** A code offered as a second factor: from the authenticator app (finishing enrolment `confirming`), or a recovery code. */
export type FactorAttempt = { type: 'otp'; code: string; confirming?: string } | { type: 'recovery-code'; code: string };

/** Who offers it: the IP and, from the hosted pages, the browser id (their limits, as for codes). */
export interface FactorAsker {
  ip: string;
  browser?: string;
  clientId?: string | null;
}

export type FactorCheck = { ok: true; authenticatorId: string } | { ok: false; reason: 'wrong' | 'replayed' | 'not_enrolled' | 'delayed'; retryAfter?: number };

/**
 * Checks a second-factor code of `userId` within the failure budget every code shares (FAILURE_STREAK
 * and FAILURES_PER_IDENTIFIER): `delayed` (with the seconds to wait) while the requester must wait,
 * whether or not the code is right. A replayed TOTP code counts as a failure like a wrong one.
 */
export async function checkFactorCode(deps: MfaDeps, userId: string, attempt: FactorAttempt, who: FactorAsker, now = new Date()): Promise<FactorCheck> {
  const { config, db } = deps;
  const identifier = factorIdentifier(userId);
  const limited = await reserveVerify(db, throttlePolicy(config), identifier, who, now);
  if (limited.limited) return { ok: false, reason: 'delayed', retryAfter: limited.retryAfter };
  const result = await compare(deps, userId, attempt, now);
  const audit = { userId, clientId: who.clientId ?? null, ip: who.ip };
  if (!result.ok) {
    await recordAudit(db, { type: 'mfa.failed', ...audit, reason: `${attempt.type}:${result.reason}` }, now);
    return result;
  }
  await settleVerify(db, limited.reservation);
  // As after a right code: this browser proved the factor, so it keeps limits of its own for this user.
  if (who.browser) await trustBrowser(db, config.codes, identifier, who.browser, now);
  await recordAudit(db, { type: 'mfa.verified', ...audit, reason: attempt.type === 'otp' && attempt.confirming ? 'otp:enrolled' : attempt.type }, now);
  return result;
}

async function compare(deps: MfaDeps, userId: string, attempt: FactorAttempt, now: Date): Promise<FactorCheck> {
  if (attempt.type === 'otp') {
    return attempt.confirming ? confirmTotp(deps, userId, attempt.confirming, attempt.code, now) : verifyTotp(deps, userId, attempt.code, now);
  }
  return (await useRecoveryCode(deps, userId, attempt.code, now)) ? { ok: true, authenticatorId: recoveryAuthenticatorId(userId) } : { ok: false, reason: 'wrong' };
}
