// Support's hands on a user's second factors ("I lost my phone and my recovery codes"): the list as
// support reads it, the removal of one, and the reset of all, each audited with who did it.
// `sesame users mfa` and the management API share it, so both answer and audit alike. Support is
// trusted to leave a user without factors (the policy's "keep one" rule, removeOwnFactor, is for the
// user's own changes): under `always` the next sign-in enrols a new factor.
import type { Db } from '../../storage/db.js';
import { recordAudit } from '../../storage/audit.js';
import { deleteAuthenticator, deleteUserAuthenticators, type AuthenticatorType } from '../../storage/mfa.js';
import type { Remover } from '../passkey-support.js';
import { operatorAudit, operatorVia } from '../passkey-support.js';
import { listFactors, type Factor } from './factors.js';

/** One factor as support sees it: never a secret. */
export interface FactorSummary {
  id: string;
  type: AuthenticatorType;
  /** False while an enrolment waits for its first code. */
  confirmed: boolean;
  name: string | null;
  phoneNumber: string | null;
  email: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  /** Recovery codes left (the recovery-code factor only, else null). */
  remaining: number | null;
}

export function summarizeFactor(f: Factor): FactorSummary {
  return {
    id: f.id,
    type: f.type,
    confirmed: f.confirmed,
    name: f.name,
    phoneNumber: f.phoneNumber,
    email: f.email,
    createdAt: f.createdAt.toISOString(),
    lastUsedAt: f.lastUsedAt?.toISOString() ?? null,
    remaining: f.remaining ?? null,
  };
}

/** A user's factors, oldest first (as the challenge orders them). */
export async function factorsOf(db: Db, userId: string): Promise<FactorSummary[]> {
  return (await listFactors({ db }, userId)).map(summarizeFactor);
}

function auditOf(by: Remover) {
  return operatorAudit(by);
}

/** Removes one factor of this user (its recovery codes with it); false when the user has no such factor. */
export async function removeFactorFor(db: Db, userId: string, authenticatorId: string, by: Remover): Promise<boolean> {
  if (!(await deleteAuthenticator(db, userId, authenticatorId))) return false;
  await recordAudit(db, { type: 'mfa.removed', userId, ...auditOf(by), reason: `${authenticatorId} via ${operatorVia(by)}` });
  return true;
}

/**
 * Removes every factor and recovery code of this user in one transaction; returns the ids that went.
 * One `mfa.reset` audit row says how many and who (a reset of nothing is audited too: support asked).
 */
export async function resetFactors(db: Db, userId: string, by: Remover): Promise<string[]> {
  const ids = (await listFactors({ db }, userId)).map((f) => f.id);
  const count = await deleteUserAuthenticators(db, userId);
  await recordAudit(db, { type: 'mfa.reset', userId, ...auditOf(by), reason: `${count} via ${operatorVia(by)}` });
  // A factor enrolled between the list and the delete went too; the answer names what was listed.
  return ids;
}
