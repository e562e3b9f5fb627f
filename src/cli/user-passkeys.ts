// `sesame users passkeys <user>`: support's view of one account's passkeys, and their removal when a
// device is lost (passwordless/passkey-support.ts, shared with the management API). Codes keep working.
import { type PasskeySummary, findUserByReference, passkeysOf, removeAllPasskeys, removePasskey } from '../passwordless/passkey-support.js';
import { UsageError, output, withDb } from './common.js';

export const USER_PASSKEYS_HELP = [
  "  passkeys <userId|email|phone>   the account's passkeys, newest first: id, name, synced or",
  '                                  device-bound, created, last used',
  '    --remove <id>                 removes that passkey (audited: passkey.removed via cli)',
  '    --remove-all                  removes all of them; sign-in with a code keeps working',
];

function describe(p: PasskeySummary): string {
  const label = p.name ?? p.authenticator ?? 'passkey';
  return [p.id, label, p.synced ? 'synced' : 'device-bound', `created ${p.createdAt}`, `last used ${p.lastUsedAt ?? 'never'}`].join('\t');
}

/** Lists, or with --remove / --remove-all removes, the passkeys of the account `args[0]` names. */
export async function userPasskeys(values: Record<string, unknown>, args: string[]): Promise<void> {
  const json = values.json === true;
  const removeOne = values.remove as string | undefined;
  const removeEvery = values['remove-all'] === true;
  if (args.length !== 1) throw new UsageError('users passkeys: expected <userId|email|phone>');
  if (removeOne !== undefined && removeEvery) throw new UsageError('users passkeys: give --remove <id> or --remove-all, not both');
  if (removeOne === '') throw new UsageError('users passkeys: --remove needs a passkey id (see the list)');
  const who = args[0]!;
  await withDb(async (db) => {
    const user = await findUserByReference(db, who);
    if (!user) throw new UsageError(`users passkeys: no user "${who}"`);
    if (removeEvery) {
      const removed = await removeAllPasskeys(db, user.id, { via: 'cli' });
      return output(json, { userId: user.id, removed }, [`removed ${removed.length} passkey${removed.length === 1 ? '' : 's'} of ${user.id}`]);
    }
    if (removeOne !== undefined) {
      if (!(await removePasskey(db, user.id, removeOne, { via: 'cli' }))) throw new UsageError(`users passkeys: ${user.id} has no passkey "${removeOne}"`);
      return output(json, { userId: user.id, removed: [removeOne] }, [`removed passkey ${removeOne} of ${user.id}`]);
    }
    const passkeys = await passkeysOf(db, user.id);
    output(json, { userId: user.id, passkeys }, passkeys.length ? passkeys.map(describe) : [`${user.id} has no passkeys`]);
  });
}
