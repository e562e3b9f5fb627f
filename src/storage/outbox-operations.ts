// The outbox as operators see it (management API, admin console): pending and given-up messages,
// newest first, a page at a time, and the retry of a given-up one. Never the subject or bodies: they
// hold sign-in codes and links. The worker's own side (claim, send, record) is outbox.ts.
import type { Db } from './db.js';
import { RETRYABLE_FOR } from './outbox.js';

export type OutboxState = 'pending' | 'failed';

/** One message without its content. */
export interface OutboxEntry {
  id: string;
  channel: string;
  connectionId: string | null;
  recipient: string;
  state: OutboxState;
  attempts: number;
  lastError: string | null;
  /** When the worker tries a pending message next; null for a given-up one. */
  nextAttemptAt: Date | null;
  createdAt: Date;
  /** A given-up message whose content is still kept (RETRYABLE_FOR), so a retry can send it. */
  retryable: boolean;
}

// Only these columns are ever read here: the content stays in the table.
const SHOWN = { id: true, channel: true, connectionId: true, recipient: true, status: true, attempts: true, lastError: true, nextAttemptAt: true, createdAt: true } as const;

/** The oldest creation time a given-up message may have and still be retried. */
const retryableSince = (now: Date) => new Date(now.getTime() - RETRYABLE_FOR * 1000);

/** A page's position: the last entry's creation time and id, opaque to callers. */
export function encodeCursor(entry: Pick<OutboxEntry, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([entry.createdAt.getTime(), entry.id])).toString('base64url');
}

/** The position in `cursor`, or null when it is not one this module made. */
export function decodeCursor(cursor: string): { createdAt: Date; id: string } | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [ms, id] = value as unknown[];
    if (!Number.isSafeInteger(ms) || typeof id !== 'string' || id.length > 100 || id.includes('\u0000')) return null;
    return { createdAt: new Date(ms as number), id };
  } catch {
    return null;
  }
}

export interface OutboxQuery {
  /** Both states when absent. */
  states: readonly OutboxState[];
  after?: { createdAt: Date; id: string };
  limit: number;
}

/** Messages in `states`, newest first (ties by id), after the cursor position; `next` is set when there are more. */
export async function listOutbox(db: Db, query: OutboxQuery, now = new Date()): Promise<{ entries: OutboxEntry[]; next: string | null }> {
  const { after } = query;
  const rows = await db.prisma.outboxMessage.findMany({
    select: { ...SHOWN, text: true },
    where: {
      status: { in: [...query.states] },
      ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
  });
  const entries = rows.slice(0, query.limit).map((row) => entryOf(row, now));
  return { entries, next: rows.length > query.limit ? encodeCursor(entries[entries.length - 1]!) : null };
}

interface Row {
  id: string;
  channel: string;
  connectionId: string | null;
  recipient: string;
  status: string;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  text: string;
}

function entryOf(row: Row, now: Date): OutboxEntry {
  const failed = row.status === 'failed';
  return {
    id: row.id,
    channel: row.channel,
    connectionId: row.connectionId,
    recipient: row.recipient,
    state: failed ? 'failed' : 'pending',
    attempts: row.attempts,
    lastError: row.lastError,
    nextAttemptAt: failed ? null : row.nextAttemptAt,
    createdAt: row.createdAt,
    // The text is only looked at, never returned.
    retryable: failed && row.text !== '' && row.createdAt > retryableSince(now),
  };
}

/** One message as listed, or null (unknown id). A sent or skipped one comes back too, for the caller to tell why it cannot be retried. */
export async function findOutboxEntry(db: Db, id: string, now = new Date()): Promise<(OutboxEntry & { status: string }) | null> {
  const row = await db.prisma.outboxMessage.findUnique({ select: { ...SHOWN, text: true }, where: { id } });
  return row ? { ...entryOf(row, now), status: row.status } : null;
}

/**
 * Puts a given-up message back in the queue, due now, with a fresh count of attempts (the worker's
 * backoff starts over). One conditional update: of parallel retries exactly one moves it; the
 * others (and a retry of a pending, sent or erased message) get false and change nothing.
 */
export async function requeueFailedMessage(db: Db, id: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.outboxMessage.updateMany({
    where: { id, status: 'failed', text: { not: '' }, createdAt: { gt: retryableSince(now) } },
    data: { status: 'pending', attempts: 0, nextAttemptAt: now, lockedUntil: null },
  });
  return count === 1;
}
