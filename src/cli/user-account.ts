// `sesame users block|unblock|export|delete <user>`: support's hands on a whole account, the same
// operations as the management API's (passwordless/user-accounts.ts), audited `via cli`.
import { findUserByReference } from '../passwordless/passkey-support.js';
import { blockUser, eraseUser, exportUser, unblockUser } from '../passwordless/user-accounts.js';
import { UsageError, output, withDb } from './common.js';

export const USER_ACCOUNT_HELP = [
  '  block <userId|email|phone>      refuse every sign-in of the account and end its sessions and grants',
  '                                  with their tokens (audited: user.blocked via cli)',
  '  unblock <userId|email|phone>    lift a block (ended sessions stay ended)',
  '  export <userId|email|phone>     everything Sesame holds of the account, as one JSON object:',
  '                                  profile, factors, passkeys, sessions, grants, recent audit events',
  '  delete <userId|email|phone> --yes  erase the account and its data; the audit keeps a pseudonymous',
  '                                  trail (audited: user.deleted via cli)',
];

const ACTIONS = ['block', 'unblock', 'export', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

export const isUserAccountAction = (word: string | undefined): word is Action => ACTIONS.includes(word as Action);

/** Runs `users <action> <user>` for block, unblock, export and delete. */
export async function userAccount(action: Action, values: Record<string, unknown>, args: string[]): Promise<void> {
  if (args.length !== 1) throw new UsageError(`users ${action}: expected <userId|email|phone>`);
  // Erasure cannot be undone: the operator says so explicitly.
  if (action === 'delete' && values.yes !== true) throw new UsageError('users delete: erasure cannot be undone; add --yes');
  const who = args[0]!;
  await withDb(async (db) => {
    const user = await findUserByReference(db, who);
    if (!user) throw new UsageError(`users ${action}: no user "${who}"`);
    if (action === 'export') {
      // One JSON object either way: the export is for reading by a program or a person alike.
      console.log(JSON.stringify(await exportUser(db, user.id), null, values.json === true ? undefined : 2));
      return;
    }
    if (action === 'delete') {
      if (!(await eraseUser(db, user.id, { via: 'cli' }))) throw new UsageError(`users delete: no user "${who}"`);
      return output(values.json === true, { userId: user.id, deleted: true }, [`${user.id} is erased`]);
    }
    const changed = action === 'block' ? await blockUser(db, user.id, { via: 'cli' }) : await unblockUser(db, user.id, { via: 'cli' });
    if (!changed) throw new UsageError(`users ${action}: no user "${who}"`);
    output(values.json === true, changed, [`${user.id} is ${changed.blocked ? 'blocked' : 'not blocked'}`]);
  });
}
