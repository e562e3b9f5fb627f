// The sign-up policy in one place: whether an identifier without an account may make one (config
// `signUp`). The hosted pages, the APIs, the grants, magic links and external connections ask here.
import type { Config } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { findUserByEmail, findUserByPhone, upsertVerifiedEmailUser, upsertVerifiedPhoneUser, type User } from '../storage/users.js';
import { isPhoneIdentifier } from './identifiers.js';
import { deleteUserPasskeys } from '../storage/passkeys.js';
import { recordAudit } from '../storage/audit.js';

/** `open`: the first verified sign-in of an unknown identifier creates its user; `existing-only`: it is refused. */
export type SignUpPolicy = Config['signUp'];

/** Whether an identifier (address, number, external subject) with no account may make one. */
export function maySignUp(policy: SignUpPolicy): boolean {
  return policy === 'open';
}

/**
 * The user of a just-proven identifier (an email address, or an E.164 number: `+...`), marked
 * verified: the existing one, or a new one when the policy lets the identifier sign up; null when
 * it has no account and may not make one.
 */
export async function resolveUser(db: Db, identifier: string, policy: SignUpPolicy): Promise<User | null> {
  const phone = isPhoneIdentifier(identifier);
  const existing = phone ? await findUserByPhone(db, identifier) : await findUserByEmail(db, identifier);
  if (!existing && !maySignUp(policy)) return null;
  const user = phone ? await upsertVerifiedPhoneUser(db, identifier) : await upsertVerifiedEmailUser(db, identifier);
  if (existing && !(phone ? existing.phoneVerified : existing.emailVerified)) await dropUnprovenPasskeys(db, user.id, identifier);
  return user;
}

/**
 * The first proof of an identifier an account was created with unproven (a passkey sign-up through
 * the API): whoever made those passkeys may have squatted the address before its owner came (account
 * pre-hijacking), so the passkeys made before the proof go, audited. The owner adds their own.
 */
async function dropUnprovenPasskeys(db: Db, userId: string, identifier: string): Promise<void> {
  const removed = await deleteUserPasskeys(db, userId);
  if (removed > 0) await recordAudit(db, { type: 'passkey.removed', userId, identifier, reason: `${removed} made before ${identifier} was proven` });
}
