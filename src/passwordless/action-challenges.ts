// Passing the challenge of a tracked action (Authsignal's pre-built page and client API) with a
// code: an email or SMS code, an authenticator app (TOTP) or a recovery code. Only a decision
// waiting for a challenge (CHALLENGE_REQUIRED) can be passed, only with a method its rule allows,
// and only by its principal's own factors. A user with none of the allowed methods may enrol one
// first (the address the app gave to track, or one the user proves, or a new authenticator app);
// a user who has one must use it, so the track token alone never lets anyone add a factor that
// would pass. Codes go through the MFA doors (oob.ts, factors.ts), so their send limits, attempt
// budget and delays apply; email and SMS codes are bound to the decision (challenge `a.<id>`).
import type { VerificationMethod } from '../config/actions.js';
import { listAuthenticators, type AuthenticatorRow } from '../storage/mfa.js';
import type { ActionDecisionRow } from '../storage/action-decisions.js';
import { methodsOf } from './actions.js';
import { passChallenge } from './action-results.js';
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
  | { ok: true; token: string; authenticatorId: string }
  | { ok: false; refused: Refusal }
  | { ok: false; reason: Exclude<OobCheck, { ok: true }>['reason'] | Exclude<FactorCheck, { ok: true }>['reason'] | 'lost'; retryAfter?: number; attemptsLeft?: number };

/**
 * Checks a code for `row`'s challenge with `method` and, when right, passes it: the result token.
 * `confirming` names an authenticator app being enrolled (see startTotpEnrolment). A right code
 * whose pass lost to a parallel one is `lost`: one decision has one result token.
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
  const userId = state.principalId!;
  const trimmed = code.trim().slice(0, 64);
  let checked: OobCheck | FactorCheck;
  if (method === 'EMAIL_OTP' || method === 'SMS') {
    const factor = await oobFactor(deps, userId, method);
    if (!factor) return { ok: false, reason: 'missing' };
    checked = await checkFactorOob(deps, userId, factor.id, challengeIdOfDecision(row), trimmed, who);
  } else {
    const attempt = method === 'RECOVERY_CODE' ? { type: 'recovery-code' as const, code: trimmed } : { type: 'otp' as const, code: trimmed, confirming };
    if (confirming && !state.enrollable.includes('AUTHENTICATOR_APP')) return { ok: false, refused: 'method' };
    checked = await checkFactorCode(deps, userId, attempt, { ip: who.ip, clientId: who.clientId });
  }
  if (!checked.ok) return checked;
  const token = await passChallenge({ ...deps, issuer: deps.config.issuer }, row, method, checked.authenticatorId);
  return token ? { ok: true, token, authenticatorId: checked.authenticatorId } : { ok: false, reason: 'lost' };
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
