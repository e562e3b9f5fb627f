// Support's hands on a whole account: block and unblock it, erase it, export what Sesame holds of it.
// `sesame users block|unblock|export` and the management API share these, so both act and audit
// alike. Blocking ends every session and grant with their tokens at once, and oidc/account.ts
// refuses a blocked account at every sign-in door, so nothing issued before the block outlives it.
import type { Db } from '../storage/db.js';
import { auditOfUser, recordAudit } from '../storage/audit.js';
import { endAllSessions, endSession, listGrants, listSessions, revokeGrant } from '../storage/oidc-sessions.js';
import { eraseUserRows } from '../storage/user-erasure.js';
import { findUserById, findUserRecord, setBlocked, setName } from '../storage/users.js';
import type { Remover } from './passkey-support.js';
import { operatorAudit, operatorVia, passkeysOf } from './passkey-support.js';
import { factorsOf } from './mfa/support.js';

/** Who acts on the account, for the audit: the CLI, or a management API client. */
export type Operator = Remover;

function auditOf(by: Operator) {
  return operatorAudit(by);
}

/** An account as support reads it (the management API's User). */
export interface UserView {
  id: string;
  email: string | null;
  emailVerified: boolean;
  phoneNumber: string | null;
  phoneVerified: boolean;
  name: string | null;
  blocked: boolean;
  blockedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

type UserRecord = NonNullable<Awaited<ReturnType<typeof findUserRecord>>>;

export function viewOf(u: UserRecord): UserView {
  return {
    id: u.id,
    email: u.email,
    emailVerified: u.emailVerified,
    phoneNumber: u.phoneNumber,
    phoneVerified: u.phoneVerified,
    name: u.name,
    blocked: u.blockedAt !== null,
    blockedAt: u.blockedAt?.toISOString() ?? null,
    createdAt: u.createdAt.toISOString(),
    updatedAt: u.updatedAt.toISOString(),
  };
}

/**
 * Blocks the account, then ends every session and grant of it with their tokens (refresh tokens
 * included). The mark comes first: a refresh racing the block either met the mark or finds its grant
 * gone on its next use. Blocking a blocked account keeps its first date and ends sessions again.
 */
export async function blockUser(db: Db, userId: string, by: Operator, now = new Date()): Promise<UserView | null> {
  const before = await findUserRecord(db, userId);
  if (!before) return null;
  if (!before.blockedAt && !(await setBlocked(db, userId, now))) return null;
  const ended = await endAllSessions(db, userId);
  await recordAudit(db, { type: 'user.blocked', userId, ...auditOf(by), reason: `${ended} sessions and grants ended via ${operatorVia(by)}` });
  const after = await findUserRecord(db, userId);
  return after && viewOf(after);
}

/** Whether the account is blocked (the hosted pages' refusal; tokens are refused in oidc/account.ts). */
export async function isBlocked(db: Db, userId: string): Promise<boolean> {
  return (await findUserById(db, userId))?.blockedAt != null;
}

/** Lifts a block; the user signs in again from scratch (nothing ended comes back). */
export async function unblockUser(db: Db, userId: string, by: Operator): Promise<UserView | null> {
  if (!(await setBlocked(db, userId, null))) return null;
  await recordAudit(db, { type: 'user.unblocked', userId, ...auditOf(by), reason: `via ${operatorVia(by)}` });
  const after = await findUserRecord(db, userId);
  return after && viewOf(after);
}

/** Erases the account (storage/user-erasure.ts); the audit row that says so names the pseudonymous id only. */
export async function eraseUser(db: Db, userId: string, by: Operator): Promise<boolean> {
  const user = await findUserRecord(db, userId);
  if (!user || !(await eraseUserRows(db, user))) return false;
  await recordAudit(db, { type: 'user.deleted', userId, ...auditOf(by), reason: `via ${operatorVia(by)}` });
  return true;
}

/** A user's live sessions as the API lists them. */
export async function sessionsOf(db: Db, userId: string) {
  const sessions = await listSessions(db, userId);
  return sessions.map((s) => ({ id: s.uid, signedInAt: s.loginTs === null ? null : new Date(s.loginTs * 1000).toISOString(), grantIds: s.grantIds }));
}

/** A user's live grants as the API lists them. */
export async function grantsOf(db: Db, userId: string) {
  const grants = await listGrants(db, userId);
  return grants.map((g) => ({
    id: g.id,
    clientId: g.clientId,
    scope: g.scope,
    grantedAt: g.iat === null ? null : new Date(g.iat * 1000).toISOString(),
    expiresAt: g.expiresAt?.toISOString() ?? null,
  }));
}

/** How many audit events of the user the export carries, newest first. */
export const EXPORTED_AUDIT_EVENTS = 100;

/** Everything Sesame holds of one person, as JSON: no secret, no key, no code. */
export async function exportUser(db: Db, userId: string) {
  const user = await findUserRecord(db, userId);
  if (!user) return null;
  const audit = await auditOfUser(db, userId, EXPORTED_AUDIT_EVENTS);
  return {
    profile: viewOf(user),
    factors: await factorsOf(db, userId),
    passkeys: await passkeysOf(db, userId),
    sessions: await sessionsOf(db, userId),
    grants: await grantsOf(db, userId),
    audit: audit.map((e) => ({ ...e, createdAt: e.createdAt.toISOString() })),
  };
}

/** Sets or clears the account's name (the profile scope's `name` claim), audited. */
export async function renameUser(db: Db, userId: string, name: string | null, by: Operator): Promise<UserView | null> {
  if (!(await setName(db, userId, name))) return null;
  await recordAudit(db, { type: 'user.updated', userId, ...auditOf(by), reason: `name via ${operatorVia(by)}` });
  const after = await findUserRecord(db, userId);
  return after && viewOf(after);
}

/** Ends one session of the user with its grants and tokens, audited; false when the user has no such session. */
export async function endUserSession(db: Db, userId: string, sessionId: string, by: Operator): Promise<boolean> {
  if (!(await endSession(db, userId, sessionId))) return false;
  await recordAudit(db, { type: 'session.ended', userId, ...auditOf(by), reason: `via ${operatorVia(by)}` });
  return true;
}

/** Revokes one grant of the user with its tokens, audited; false when the user has no such grant. */
export async function revokeUserGrant(db: Db, userId: string, grantId: string, by: Operator): Promise<boolean> {
  if (!(await revokeGrant(db, userId, grantId))) return false;
  await recordAudit(db, { type: 'grant.revoked', userId, ...auditOf(by), reason: `via ${operatorVia(by)}` });
  return true;
}

/** Ends every session and grant of the user with their tokens (a lost phone), audited; returns how many sessions and grants ended. */
export async function endAllUserSessions(db: Db, userId: string, by: Operator): Promise<number> {
  const ended = await endAllSessions(db, userId);
  await recordAudit(db, { type: 'session.ended', userId, ...auditOf(by), reason: `all ${ended} via ${operatorVia(by)}` });
  return ended;
}
