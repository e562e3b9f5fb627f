// The sign-up policy in one place: whether an identifier without an account may make one (config
// `signUp`). The hosted pages, the APIs, the grants, magic links and external connections ask here.
import type { Config } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { findUserByEmail, findUserByPhone, upsertVerifiedEmailUser, upsertVerifiedPhoneUser, type User } from '../storage/users.js';
import { isPhoneIdentifier } from './identifiers.js';

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
  if (!maySignUp(policy)) {
    const existing = phone ? await findUserByPhone(db, identifier) : await findUserByEmail(db, identifier);
    if (!existing) return null;
  }
  return phone ? upsertVerifiedPhoneUser(db, identifier) : upsertVerifiedEmailUser(db, identifier);
}
