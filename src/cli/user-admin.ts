// `sesame users grant-admin|revoke-admin <email>`: who may use the admin console (/admin). The role is
// read on every console request, so a revocation takes effect at the admin's next click. Audited
// (admin.granted / admin.revoked, via cli).
import { findUserByReference } from '../passwordless/passkey-support.js';
import { setAdmin } from '../storage/users.js';
import { recordAudit } from '../storage/audit.js';
import { UsageError, output, withDb } from './common.js';

export const USER_ADMIN_HELP = [
  '  grant-admin  <userId|email|phone>   may use the admin console at /admin (signed in with a passkey',
  '                                      or a second factor); audited: admin.granted via cli',
  '  revoke-admin <userId|email|phone>   no longer may; takes effect at the next console request',
];

/** Grants (`grant`) or revokes the admin role of the account `args[0]` names. */
export async function userAdmin(values: Record<string, unknown>, args: string[], grant: boolean): Promise<void> {
  const name = grant ? 'grant-admin' : 'revoke-admin';
  if (args.length !== 1 || !args[0]) throw new UsageError(`users ${name}: expected <userId|email|phone>`);
  const who = args[0];
  await withDb(async (db) => {
    const user = await findUserByReference(db, who);
    if (!user || !(await setAdmin(db, user.id, grant))) throw new UsageError(`users ${name}: no user "${who}"`);
    await recordAudit(db, { type: grant ? 'admin.granted' : 'admin.revoked', userId: user.id, reason: 'via cli' });
    output(values.json === true, { userId: user.id, admin: grant }, [`${user.id} ${grant ? 'is now an admin' : 'is no longer an admin'}`]);
  });
}
