// Who an actions-API user id is. Tenants name their users by their own ids (not URL-encoded by the
// SDK, so anything it sends). A user id that is a Sesame user's `sub` who signed in to that very
// client (a live grant) is that person: the two share authenticators and passkeys. Any other id is a
// user known only to that tenant: a Sesame user row marked with the tenant, with no email or phone,
// whose id is derived from (tenant, app user id), so tenants never meet each other's users and a
// tenant cannot reach a Sesame user by guessing an id it never saw signed in.
import { createHash } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { hasGrantWith } from '../storage/oidc-sessions.js';
import { ensureTenantUser, tenantsOfUsers } from '../storage/users.js';

/** The Sesame user id that stands for the tenant's user `appUserId` (deterministic, never created). */
export function tenantUserId(tenantId: string, appUserId: string): string {
  return `act_${createHash('sha256').update(`${tenantId}\0${appUserId}`).digest('base64url').slice(0, 32)}`;
}

/**
 * The Sesame user behind the tenant's `appUserId`: the Sesame user itself when it signed in to the
 * tenant's client, else the tenant's own user (made on first use when `create`; null when absent).
 */
export async function actionPrincipal(db: Db, tenantId: string, appUserId: string, opts: { create: boolean }): Promise<string | null> {
  const id = tenantUserId(tenantId, appUserId);
  // Both candidates in one statement: the app's id as a Sesame user, and the tenant's own user.
  const tenants = await tenantsOfUsers(db, [appUserId, id]);
  if (tenants.get(appUserId) === null && (await hasGrantWith(db, appUserId, tenantId))) return appUserId;
  if (tenants.has(id)) return id;
  if (!opts.create) return null;
  await ensureTenantUser(db, id, tenantId);
  return id;
}
