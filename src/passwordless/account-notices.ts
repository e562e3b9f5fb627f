// Emails confirming a change made on the account page ("a passkey was added"), so a user whose
// session was taken over hears of it in their inbox. Rendered in the user's language and enqueued
// through the outbox like the code emails (the worker sends them); users without an email get none.
import type { Db } from '../storage/db.js';
import { enqueueMessage } from '../storage/outbox.js';
import { findUserById } from '../storage/users.js';
import type { MessageRenderer } from './one-time-codes.js';

export interface AccountNoticeDeps {
  db: Db;
  renderer: Pick<MessageRenderer, 'email'>;
  wakeWorker(): void;
  config: { issuer: string };
}

export type AccountChangeKind =
  'passkey_added' | 'passkey_removed' | 'passkey_renamed' | 'name_changed' | 'sessions_ended' | 'mfa_added' | 'mfa_removed' | 'recovery_codes_regenerated';

export interface AccountChange {
  kind: AccountChangeKind;
  locale: string;
  /** What changed, shown in the email (a passkey's name); plain text. */
  detail?: string | null;
  /** Where and from what it was done, so the user can tell whether it was them. */
  ip?: string | null;
  browser?: string | null;
}

/** Enqueues the confirmation email; false when the user has no email address (nothing sent). */
export async function notifyAccountChange(deps: AccountNoticeDeps, userId: string, change: AccountChange): Promise<boolean> {
  const user = await findUserById(deps.db, userId);
  if (!user?.email) return false;
  const message = await deps.renderer.email('account-change', change.locale, {
    kind: change.kind,
    detail: change.detail ?? null,
    ip: change.ip ?? null,
    browser: change.browser ?? null,
    url: new URL('/account', deps.config.issuer).toString(),
  });
  await enqueueMessage(deps.db, { channel: 'email', recipient: user.email, ...message });
  deps.wakeWorker();
  return true;
}
