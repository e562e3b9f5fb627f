// Passing the challenge of a tracked action (Authsignal's pre-built page and client API) with a
// code: an email or SMS code, an authenticator app (TOTP) or a recovery code. Only a decision
// waiting for a challenge (CHALLENGE_REQUIRED) can be passed, only with a method its rule allows,
// and only by its principal's own factors. A user with none of the allowed methods may enrol one
// first (the address the app gave to track, or one the user proves, or a new authenticator app);
// a user who has one must use it, so the track token alone never lets anyone add a factor that
// would pass. Codes go through the MFA doors (oob.ts, factors.ts), so their send limits, attempt
// budget and delays apply; email and SMS codes are bound to the decision (challenge `a.<id>`).
// On top, one challenge has the attempts of one code (CHALLENGE_ATTEMPTS, spent before the compare):
// the wrong code that uses the last one fails the challenge (CHALLENGE_FAILED). Only guesses made
// with this decision's token count, so no one else's failures (another action of the same user, a
// delay from elsewhere) can end it. An authenticator app confirmed here as the user's first factor
// brings recovery codes, shown once.
import type { VerificationMethod } from '../config/actions.js';
import { listAuthenticators, type AuthenticatorRow } from '../storage/mfa.js';
import { findDecisionById, type ActionDecisionRow } from '../storage/action-decisions.js';
import { recordAudit } from '../storage/audit.js';
import { check, takeBack } from '../risk/check.js';
import { CHALLENGE_ATTEMPTS } from '../risk/limits.js';
import { methodsOf } from './actions.js';
import { firstFactorRecoveryCodes } from './action-authenticators.js';
import { failChallenge, passChallenge } from './action-results.js';
import { normalizeEmail, parsePhone } from './identifiers.js';
import { checkFactorCode, type FactorCheck } from './mfa/factors.js';
import type { MfaDeps } from './mfa/keys.js';
import { checkFactorOob, enrolOob, sendFactorCode, type OobCheck } from './mfa/oob.js';
import { enrolTotp, type TotpEnrolment } from './mfa/totp.js';
import type { CodeSendDeps, Requester, SmsSendResult } from './one-time-codes.js';

export interface ActionChallengeDeps extends CodeSendDeps, MfaDeps {
  cookieKeys: readonly string[];
}

/** The methods a code proves (PASSKEY is passed by the passkey routes, with passChallenge). */
export type CodeMethod = 'EMAIL_OTP' | 'SMS' | 'AUTHENTICATOR_APP' | 'RECOVERY_CODE';
export type OobMethod = 'EMAIL_OTP' | 'SMS';

const FACTOR_TYPE = { EMAIL_OTP: 'email', SMS: 'sms' } as const;
/** Methods a user without any allowed method may enrol here (recovery codes come with a factor, never alone). */
const ENROLLABLE: readonly VerificationMethod[] = ['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'SMS'];

/** What a page or the client API may offer for a decision. */
export interface ChallengeState {
  /** Whether the decision still waits for a challenge. */
  open: boolean;
  principalId: string | null;
  /** The methods the matched rule allows, in its order. */
  allowed: VerificationMethod[];
  /** Allowed methods the user has, the default first. */
  usable: VerificationMethod[];
  /** Allowed methods the user may enrol: only while `usable` is empty. */
  enrollable: VerificationMethod[];
  /** The address or number a code goes to (the enrolled factor's, else the one given to track). */
  email: string | null;
  phoneNumber: string | null;
}

function contextOf(row: ActionDecisionRow): { email?: string; phoneNumber?: string; locale?: string } {
  try {
    return JSON.parse(row.context) as { email?: string; phoneNumber?: string; locale?: string };
  } catch {
    return {};
  }
}

/** The challenge id email and SMS codes of this decision are sent and checked under. */
export function challengeIdOfDecision(row: Pick<ActionDecisionRow, 'id'>): string {
  return `a.${row.id}`;
}

async function oobFactor(deps: Pick<MfaDeps, 'db'>, userId: string, method: OobMethod): Promise<AuthenticatorRow | undefined> {
  const rows = await listAuthenticators(deps.db, userId, { type: FACTOR_TYPE[method] });
  return rows.find((r) => r.confirmed) ?? rows[0];
}

/** The methods of `row`'s challenge: what the user can use, or else enrol. */
export async function challengeState(deps: Pick<MfaDeps, 'db'>, row: ActionDecisionRow): Promise<ChallengeState> {
  const allowed = JSON.parse(row.verificationMethods) as VerificationMethod[];
  const principalId = row.principalId;
  const has = principalId ? await methodsOf(deps.db, principalId) : [];
  const usable = allowed.filter((m) => has.includes(m)).sort((a, b) => Number(b === row.defaultVerificationMethod) - Number(a === row.defaultVerificationMethod));
  const context = contextOf(row);
  const enrollable = usable.length > 0 || !principalId ? [] : allowed.filter((m) => ENROLLABLE.includes(m));
  const email = principalId ? ((await oobFactor(deps, principalId, 'EMAIL_OTP'))?.email ?? context.email ?? null) : null;
  const phoneNumber = principalId ? ((await oobFactor(deps, principalId, 'SMS'))?.phoneNumber ?? context.phoneNumber ?? null) : null;
  return { open: row.state === 'CHALLENGE_REQUIRED', principalId, allowed, usable, enrollable, email, phoneNumber };
}

export type Refusal = 'closed' | 'method' | 'address';
export type SendOutcome = { ok: true; to: string; authenticatorId: string } | { ok: false; refused: Refusal } | Exclude<SmsSendResult, { ok: true }>;

/** Whether `method` can be used now, or enrolled; the refusal otherwise. */
function mayUse(state: ChallengeState, method: VerificationMethod): Refusal | null {
  if (!state.open || !state.principalId) return 'closed';
  return state.usable.includes(method) || state.enrollable.includes(method) ? null : 'method';
}

/**
 * Sends an email or SMS code for `row`'s challenge: to the user's factor of that kind, or, for a user
 * enrolling, to `address` (default: the one given to track; when track gave one, only that one),
 * which the right code then confirms as the user's factor.
 */
export async function sendChallengeCode(deps: ActionChallengeDeps, row: ActionDecisionRow, method: OobMethod, who: Requester, address?: string): Promise<SendOutcome> {
  const state = await challengeState(deps, row);
  const refused = mayUse(state, method);
  if (refused) return { ok: false, refused };
  const userId = state.principalId!;
  let factor = await oobFactor(deps, userId, method);
  if (!factor?.confirmed) {
    const given = contextOf(row)[method === 'EMAIL_OTP' ? 'email' : 'phoneNumber'];
    const wanted = method === 'EMAIL_OTP' ? normalizeEmail(address ?? given) : (parsePhone(address ?? given)?.e164 ?? null);
    const fixed = given === undefined ? null : method === 'EMAIL_OTP' ? normalizeEmail(given) : (parsePhone(given)?.e164 ?? null);
    if (!wanted || (fixed !== null && wanted !== fixed)) return { ok: false, refused: 'address' };
    const current = method === 'EMAIL_OTP' ? factor?.email : factor?.phoneNumber;
    if (!factor || current !== wanted) {
      factor = await enrolOob(deps, userId, method === 'EMAIL_OTP' ? { type: 'email', email: wanted } : { type: 'sms', phoneNumber: wanted });
    }
  }
  const sent = await sendFactorCode(deps, challengeIdOfDecision(row), factor, who);
  if (!sent.ok) return sent;
  return { ok: true, to: (method === 'EMAIL_OTP' ? factor.email : factor.phoneNumber) ?? '', authenticatorId: factor.id };
}

export type VerifyOutcome =
  | { ok: true; token: string; authenticatorId: string; recoveryCodes?: string[] }
  | { ok: false; refused: Refusal }
  | {
      ok: false;
      reason: Exclude<OobCheck, { ok: true }>['reason'] | Exclude<FactorCheck, { ok: true }>['reason'] | 'lost' | 'failed';
      retryAfter?: number;
      attemptsLeft?: number;
    };

/**
 * Refusals that spend the challenge's attempts: a wrong code. The others give theirs back: no compare
 * happened (a delay, no code, a code out of tries), or the code was right once (a replay, e.g. a
 * double submit), so a user's own right code can never fail their challenge.
 */
const GUESSES: readonly string[] = ['wrong'];

/** Checks `code` against the user's factor of `method`, through the MFA doors and their limits. */
async function checkMethodCode(deps: ActionChallengeDeps, row: ActionDecisionRow, userId: string, method: CodeMethod, code: string, who: Requester, confirming?: string) {
  if (method === 'EMAIL_OTP' || method === 'SMS') {
    const factor = await oobFactor(deps, userId, method);
    if (!factor) return { ok: false as const, reason: 'missing' as const };
    return checkFactorOob(deps, userId, factor.id, challengeIdOfDecision(row), code, who);
  }
  const attempt = method === 'RECOVERY_CODE' ? { type: 'recovery-code' as const, code } : { type: 'otp' as const, code, confirming };
  return checkFactorCode(deps, userId, attempt, { ip: who.ip, clientId: who.clientId });
}

/** Fails `row`'s challenge (its last attempt was spent); `failed`, or `closed` when a parallel pass ended it first. */
async function failed(deps: ActionChallengeDeps, row: ActionDecisionRow, who: Requester): Promise<VerifyOutcome> {
  if (await failChallenge(deps.db, row)) {
    await recordAudit(deps.db, { type: 'action.challenge_failed', userId: row.principalId, clientId: row.tenantId, ip: who.ip, reason: 'max_attempts' });
  }
  const now = await findDecisionById(deps.db, row.id);
  return now?.state === 'CHALLENGE_FAILED' ? { ok: false, reason: 'failed' } : { ok: false, refused: 'closed' };
}

/** Whether `authenticatorId` is the user's only confirmed factor (as insertSoleConfirmed's `first`). */
async function onlyFactor(deps: Pick<MfaDeps, 'db'>, userId: string, authenticatorId: string): Promise<boolean> {
  const confirmed = await listAuthenticators(deps.db, userId, { confirmed: true });
  return confirmed.length === 1 && confirmed[0]!.id === authenticatorId;
}

/**
 * Checks a code for `row`'s challenge with `method` and, when right, passes it: the result token.
 * `confirming` names an authenticator app being enrolled (see startTotpEnrolment); when it is the
 * user's first factor the answer carries their new recovery codes. A right code whose pass lost to a
 * parallel one is `lost` (one decision has one result token), or `failed` when a wrong one ended it.
 */
export async function verifyChallengeCode(
  deps: ActionChallengeDeps,
  row: ActionDecisionRow,
  method: CodeMethod,
  code: string,
  who: Requester,
  confirming?: string,
): Promise<VerifyOutcome> {
  const state = await challengeState(deps, row);
  const refused = mayUse(state, method);
  if (refused) return { ok: false, refused };
  if (confirming && (method !== 'AUTHENTICATOR_APP' || !state.enrollable.includes('AUTHENTICATOR_APP'))) return { ok: false, refused: 'method' };
  const userId = state.principalId!;
  const budget = { maxAttempts: deps.config.codes.maxAttempts };
  const spent = await check(deps.db, CHALLENGE_ATTEMPTS, [row.id], budget);
  if (spent.kind !== 'allow') {
    // The rest of the budget is held by attempts in flight (right codes among them, maybe): try again
    // in a moment. Only a wrong code that was compared can fail the challenge, never a crowd of right ones.
    await takeBack(deps.db, CHALLENGE_ATTEMPTS, [row.id]);
    return { ok: false, reason: 'delayed', retryAfter: 1 };
  }
  const checked = await checkMethodCode(deps, row, userId, method, code.trim().slice(0, 64), who, confirming);
  if (!checked.ok) {
    if (!GUESSES.includes(checked.reason)) {
      await takeBack(deps.db, CHALLENGE_ATTEMPTS, [row.id]);
      return checked;
    }
    if (spent.count >= budget.maxAttempts) return failed(deps, row, who);
    const left = budget.maxAttempts - spent.count;
    return 'attemptsLeft' in checked && checked.attemptsLeft !== undefined ? { ...checked, attemptsLeft: Math.min(checked.attemptsLeft, left) } : checked;
  }
  const token = await passChallenge({ ...deps, issuer: deps.config.issuer }, row, method, checked.authenticatorId);
  if (!token) return (await findDecisionById(deps.db, row.id))?.state === 'CHALLENGE_FAILED' ? { ok: false, reason: 'failed' } : { ok: false, reason: 'lost' };
  const first = Boolean(confirming) && (await onlyFactor(deps, userId, checked.authenticatorId));
  const recoveryCodes = await firstFactorRecoveryCodes(deps, userId, first);
  return { ok: true, token, authenticatorId: checked.authenticatorId, ...(recoveryCodes && { recoveryCodes }) };
}

/** Starts enrolling an authenticator app for a user who has none of the allowed methods. */
export async function startTotpEnrolment(deps: ActionChallengeDeps, row: ActionDecisionRow): Promise<TotpEnrolment | { refused: Refusal }> {
  const state = await challengeState(deps, row);
  if (!state.open || !state.principalId) return { refused: 'closed' };
  if (!state.enrollable.includes('AUTHENTICATOR_APP')) return { refused: 'method' };
  return enrolTotp(deps, state.principalId);
}

/** The authenticator app being enrolled by `row`'s user, if any (the client API's verify names none). */
export async function pendingTotpId(deps: Pick<MfaDeps, 'db'>, row: ActionDecisionRow): Promise<string | undefined> {
  if (!row.principalId) return undefined;
  return (await listAuthenticators(deps.db, row.principalId, { type: 'totp', confirmed: false })).at(-1)?.id;
}
