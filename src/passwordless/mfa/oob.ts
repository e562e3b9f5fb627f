// Codes by email and SMS as second factors ("out of band", Auth0's `oob`): sent to the address or
// number the user enrolled, through the sign-in code machinery, so the same send limits, code
// lifetime, attempt budget and growing delays apply. A code is keyed by its challenge (`m:<id>`;
// the caller makes the id and binds it: the hosted pages to the interaction, the API to its
// mfa_token), and counts only for the factor it was sent to. The first right code of a factor still
// being enrolled confirms it.
import { recordAudit } from '../../storage/audit.js';
import { SesameError } from '../../errors.js';
import {
  confirmAuthenticator,
  deleteUnconfirmed,
  findAuthenticator,
  insertAuthenticator,
  listAuthenticators,
  touchAuthenticator,
  type AuthenticatorRow,
} from '../../storage/mfa.js';
import { newAuthenticatorId } from './keys.js';
import { mfaFlowKey } from '../flows.js';
import { parsePhone } from '../identifiers.js';
import { sendCode, useFactorCode, type CodeCheckDeps, type CodeSendDeps, type Requester, type SmsSendResult } from '../one-time-codes.js';

/** A factor a code can be sent to. */
export type OobFactor = Pick<AuthenticatorRow, 'id' | 'type' | 'email' | 'phoneNumber'>;

export type OobCheck =
  | { ok: true; authenticatorId: string; confirmed: boolean }
  | { ok: false; reason: 'missing' | 'expired' | 'exhausted' | 'wrong' | 'used' | 'delayed' | 'not_enrolled'; retryAfter?: number; attemptsLeft?: number };

/**
 * Starts enrolling an email address or phone number (E.164, already parsed and allowed by the
 * caller) as a factor: an unconfirmed authenticator, confirmed by the first right code sent to it.
 * One of each type per user (conflict when confirmed); an unfinished enrolment is replaced.
 */
export async function enrolOob(
  deps: Pick<CodeSendDeps, 'db'>,
  userId: string,
  to: { type: 'email'; email: string } | { type: 'sms'; phoneNumber: string },
  now = new Date(),
): Promise<AuthenticatorRow> {
  if ((await listAuthenticators(deps.db, userId, { type: to.type, confirmed: true })).length > 0) {
    throw new SesameError('conflict', { detail: 'User is already enrolled.' });
  }
  await deleteUnconfirmed(deps.db, userId, to.type);
  const address = to.type === 'email' ? { email: to.email } : { phoneNumber: to.phoneNumber };
  return insertAuthenticator(deps.db, { id: newAuthenticatorId(to.type), userId, type: to.type, ...address }, now);
}

/** Sends a code to `factor` for challenge `challengeId` (replacing that challenge's earlier code). */
export async function sendFactorCode(deps: CodeSendDeps, challengeId: string, factor: OobFactor, who: Requester): Promise<SmsSendResult> {
  const flowKey = mfaFlowKey(challengeId);
  if (factor.type === 'email' && factor.email) return sendCode(deps, flowKey, { email: factor.email }, who, { factor: true });
  if (factor.type === 'sms' && factor.phoneNumber) {
    const parsed = parsePhone(factor.phoneNumber);
    return sendCode(deps, flowKey, { phone: factor.phoneNumber, country: parsed?.country }, who, { factor: true });
  }
  return { ok: false, reason: 'disabled', retryAfter: 0 };
}

/**
 * Checks the code of challenge `challengeId` for `userId`'s factor `authenticatorId`: right only when
 * it was sent to that factor's address. Confirms a factor being enrolled; audits the outcome.
 */
export async function checkFactorOob(deps: CodeCheckDeps, userId: string, authenticatorId: string, challengeId: string, code: string, who: Requester): Promise<OobCheck> {
  const factor = await findAuthenticator(deps.db, userId, authenticatorId);
  if (!factor || (factor.type !== 'email' && factor.type !== 'sms')) return { ok: false, reason: 'not_enrolled' };
  const used = await useFactorCode(deps, mfaFlowKey(challengeId), code.trim(), who);
  const audit = { userId, clientId: who.clientId, ip: who.ip };
  const address = factor.type === 'email' ? factor.email : factor.phoneNumber;
  if (!used.ok || used.identifier !== address) {
    const reason = used.ok ? 'wrong' : used.reason;
    await recordAudit(deps.db, { type: 'mfa.failed', ...audit, reason: `${factor.type}:${reason}` });
    return used.ok ? { ok: false, reason: 'wrong' } : used;
  }
  const confirmed = !factor.confirmed && (await confirmAuthenticator(deps.db, userId, factor.id));
  if (factor.confirmed) await touchAuthenticator(deps.db, userId, factor.id);
  await recordAudit(deps.db, { type: 'mfa.verified', ...audit, reason: confirmed ? `${factor.type}:enrolled` : factor.type });
  return { ok: true, authenticatorId: factor.id, confirmed };
}
