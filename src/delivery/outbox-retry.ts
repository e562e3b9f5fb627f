// An operator's retry of a message the worker gave up on (the support case "the mails stopped": the
// SMTP server is fixed, the failed codes go out again). Shared by the management API and the admin
// console: it says why a message cannot be retried, moves it back to the queue once however many
// retries race, audits who did it, and nudges the worker so it goes out now, not at the next poll.
import type { Db } from '../storage/db.js';
import { recordAudit } from '../storage/audit.js';
import { findOutboxEntry, requeueFailedMessage, type OutboxEntry } from '../storage/outbox-operations.js';

/** Who retries: `console` (`actor` is `admin:<user id>`, `userId` the admin) or `management_api` (`actor` is `management_api:<client id>`). */
export interface Retrier {
  via: 'console' | 'management_api';
  actor: string;
  userId?: string | null;
  clientId?: string | null;
  ip?: string | null;
}

/**
 * `retried` with the message as it is now; `notFound` (no such id); `notFailed` (pending, sent or
 * skipped, or another retry won the race); `erased` (given up too long ago: its content is gone).
 */
export type RetryResult = { outcome: 'retried'; entry: OutboxEntry } | { outcome: 'notFound' } | { outcome: 'notFailed' } | { outcome: 'erased' };

export async function retryFailedMessage(db: Db, id: string, by: Retrier, wake: () => void = () => {}, now = new Date()): Promise<RetryResult> {
  const found = await findOutboxEntry(db, id, now);
  if (!found) return { outcome: 'notFound' };
  if (found.status !== 'failed') return { outcome: 'notFailed' };
  if (!found.retryable) return { outcome: 'erased' };
  if (!(await requeueFailedMessage(db, id, now))) return { outcome: 'notFailed' };
  await recordAudit(db, {
    type: 'outbox.retried',
    userId: by.userId ?? null,
    clientId: by.clientId ?? null,
    ip: by.ip ?? null,
    identifier: id,
    reason: `via ${by.via} by ${by.actor}`,
  });
  wake();
  // As the requeue left it (the worker may be sending it already).
  const { status: _status, ...entry } = found;
  return { outcome: 'retried', entry: { ...entry, state: 'pending', attempts: 0, nextAttemptAt: now, retryable: false } };
}
