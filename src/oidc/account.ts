// Accounts for oidc-provider: a user row becomes the claims sub, email, email_verified,
// phone_number, phone_number_verified and name.
import type { FindAccount } from 'oidc-provider';
import type { Db } from '../storage/db.js';
import { findUserById } from '../storage/users.js';
import { inProviderTerms } from './storage-errors.js';

export function accountFinder(db: Db): FindAccount {
  return async function findAccount(_ctx, sub) {
    const user = await findUserById(db, sub).catch(inProviderTerms);
    if (!user) return undefined;
    return {
      accountId: user.id,
      async claims() {
        return {
          sub: user.id,
          ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}),
          ...(user.phoneNumber ? { phone_number: user.phoneNumber, phone_number_verified: user.phoneVerified } : {}),
          ...(user.name ? { name: user.name } : {}),
        };
      },
    };
  };
}
