// Accounts for oidc-provider: a user row becomes the claims sub, email, email_verified,
// phone_number, phone_number_verified and name. A blocked account is no account: every door that
// issues tokens asks here (the code and refresh grants, and Sesame's own grants through
// issueTokens), so the token endpoint refuses it by name; elsewhere (userinfo, a session at
// /authorize) it is simply not found. The hosted pages refuse it with a page first (flow-context.ts).
import { errors, type FindAccount } from 'oidc-provider';
import type { Db } from '../storage/db.js';
import { prefetchedUser } from '../storage/oidc-adapter.js';
import { findUserById } from '../storage/users.js';
import { inProviderTerms } from './storage-errors.js';

/** The token endpoint's invalid_grant for a blocked account, saying so (oidc-provider's own keeps a generic description). */
class AccountBlocked extends errors.InvalidGrant {
  constructor() {
    super('the account is blocked');
    this.error_description = 'The account is blocked.';
  }
}

export function accountFinder(db: Db): FindAccount {
  return async function findAccount(ctx, sub) {
    // Read along with the request's token when there is one (storage/oidc-adapter.ts), on the same snapshot.
    const prefetched = prefetchedUser(ctx, sub);
    const user = prefetched !== undefined ? prefetched : await findUserById(db, sub).catch(inProviderTerms);
    if (!user) return undefined;
    if (user.blockedAt) {
      if ((ctx as { oidc?: { route?: string } } | undefined)?.oidc?.route === 'token') throw new AccountBlocked();
      return undefined;
    }
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
