// `sesame users mfa <user>`: support's view of one account's second factors, and their reset when the
// user lost them all (passwordless/mfa/support.ts, shared with the management API). Passkeys and
// codes are untouched; under the `always` policy the next sign-in enrols a new factor.
import { findUserByReference } from '../passwordless/passkey-support.js';
import { factorsOf, resetFactors, type FactorSummary } from '../passwordless/mfa/support.js';
import { UsageError, output, withDb } from './common.js';

export const USER_MFA_HELP = [
  "  mfa <userId|email|phone>        the account's second factors, oldest first: id, type, phone or",
  '                                  email, recovery codes left, created, last used',
  '    --reset                       removes every factor and recovery code (audited: mfa.reset via cli)',
];

function describe(f: FactorSummary): string {
  const detail = f.type === 'recovery-code' ? `${f.remaining} left` : (f.phoneNumber ?? f.email ?? f.name ?? '-');
  return [f.id, f.type, f.confirmed ? detail : `${detail} (enrolment unfinished)`, `created ${f.createdAt}`, `last used ${f.lastUsedAt ?? 'never'}`].join('\t');
}

/** Lists, or with --reset removes, the second factors of the account `args[0]` names. */
export async function userMfa(values: Record<string, unknown>, args: string[]): Promise<void> {
  const json = values.json === true;
  if (args.length !== 1) throw new UsageError('users mfa: expected <userId|email|phone>');
  if (values.remove !== undefined || values['remove-all'] !== undefined) throw new UsageError('users mfa: --remove is for passkeys; use --reset');
  const who = args[0]!;
  await withDb(async (db) => {
    const user = await findUserByReference(db, who);
    if (!user) throw new UsageError(`users mfa: no user "${who}"`);
    if (values.reset === true) {
      const removed = await resetFactors(db, user.id, { via: 'cli' });
      return output(json, { userId: user.id, removed }, [`removed ${removed.length} factor${removed.length === 1 ? '' : 's'} of ${user.id}`]);
    }
    const factors = await factorsOf(db, user.id);
    output(json, { userId: user.id, factors }, factors.length ? factors.map(describe) : [`${user.id} has no second factors`]);
  });
}
