// `sesame users block|unblock|export <user>`: support's hands on a whole account, the same operations
// as the management API's (passwordless/user-admin.ts), audited `via cli`.
import { findUserByReference } from '../passwordless/passkey-support.js';
import { blockUser, exportUser, unblockUser } from '../passwordless/user-admin.js';
import { UsageError, output, withDb } from './common.js';

export const USER_ADMIN_HELP = [
  '  block <userId|email|phone>      refuse every sign-in of the account and end its sessions and grants',
  '                                  with their tokens (audited: user.blocked via cli)',
  '  unblock <userId|email|phone>    lift a block (ended sessions stay ended)',
  '  export <userId|email|phone>     everything Sesame holds of the account, as one JSON object:',
  '                                  profile, factors, passkeys, sessions, grants, recent audit events',
];

/** Runs `users <action> <user>` for block, unblock and export. */
export async function userAdmin(action: 'block' | 'unblock' | 'export', values: Record<string, unknown>, args: string[]): Promise<void> {
  if (args.length !== 1) throw new UsageError(`users ${action}: expected <userId|email|phone>`);
  const who = args[0]!;
  await withDb(async (db) => {
    const user = await findUserByReference(db, who);
    if (!user) throw new UsageError(`users ${action}: no user "${who}"`);
    if (action === 'export') {
      // One JSON object either way: the export is for reading by a program or a person alike.
      console.log(JSON.stringify(await exportUser(db, user.id), null, values.json === true ? undefined : 2));
      return;
    }
    const changed = action === 'block' ? await blockUser(db, user.id, { via: 'cli' }) : await unblockUser(db, user.id, { via: 'cli' });
    if (!changed) throw new UsageError(`users ${action}: no user "${who}"`);
    output(values.json === true, changed, [`${user.id} is ${changed.blocked ? 'blocked' : 'not blocked'}`]);
  });
}
