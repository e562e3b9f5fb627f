// The outbox: requests insert messages; workers claim them with a conditional update (a lease), so
// two workers never send the same message at once and a crashed worker's lease simply runs out.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

export interface OutgoingMessage {
  /** email: through SMTP (or captured); webhook: `text` is the JSON body POSTed for the connection. */
  channel: 'email' | 'webhook' | 'sms';
  connectionId?: string;
  recipient: string;
  subject: string;
  text: string;
  html?: string;
}

export interface ClaimedMessage extends OutgoingMessage {
  id: string;
  attempts: number;
}

export async function enqueueMessage(db: Db, message: OutgoingMessage): Promise<string> {
  const id = randomUUID();
  await db.prisma.outboxMessage.create({ data: { id, ...message, connectionId: message.connectionId ?? null, html: message.html ?? null } });
  return id;
}

/** Claims up to `limit` due messages for `leaseSeconds`. */
export async function claimDueMessages(db: Db, limit: number, leaseSeconds: number, now = new Date()): Promise<ClaimedMessage[]> {
  const due = await db.prisma.outboxMessage.findMany({
    where: { status: 'pending', nextAttemptAt: { lte: now }, OR: [{ lockedUntil: null }, { lockedUntil: { lte: now } }] },
    orderBy: { nextAttemptAt: 'asc' },
    take: limit,
    select: { id: true },
  });
  const claimed: ClaimedMessage[] = [];
  const lease = new Date(now.getTime() + leaseSeconds * 1000);
  for (const { id } of due) {
    const { count } = await db.prisma.outboxMessage.updateMany({
      where: { id, status: 'pending', OR: [{ lockedUntil: null }, { lockedUntil: { lte: now } }] },
      data: { lockedUntil: lease },
    });
    if (count !== 1) continue;
    const row = await db.prisma.outboxMessage.findUniqueOrThrow({ where: { id } });
    claimed.push({
      id,
      channel: row.channel === 'webhook' || row.channel === 'sms' ? row.channel : 'email',
      connectionId: row.connectionId ?? undefined,
      recipient: row.recipient,
      subject: row.subject ?? '',
      text: row.text,
      html: row.html ?? undefined,
      attempts: row.attempts,
    });
  }
  return claimed;
}

/** Marks a message sent; bodies (which hold codes) are dropped unless `keepBody` (dev outbox). */
export async function markSent(db: Db, id: string, keepBody: boolean, now = new Date()): Promise<void> {
  await db.prisma.outboxMessage.update({
    where: { id },
    data: { status: 'sent', sentAt: now, lockedUntil: null, attempts: { increment: 1 }, ...(keepBody ? {} : { text: '', html: null }) },
  });
}

/** Records a failed attempt: retried at `retryAt`, or given up when `retryAt` is null. */
export async function markFailed(db: Db, id: string, error: string, retryAt: Date | null): Promise<void> {
  await db.prisma.outboxMessage.update({
    where: { id },
    data: {
      attempts: { increment: 1 },
      lastError: error.slice(0, 500),
      lockedUntil: null,
      ...(retryAt ? { nextAttemptAt: retryAt } : { status: 'failed' }),
    },
  });
}

export function listMessages(db: Db, take = 50) {
  return db.prisma.outboxMessage.findMany({ orderBy: { createdAt: 'desc' }, take });
}

/** Deletes messages finished more than a week ago. */
export async function sweepOutbox(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.outboxMessage.deleteMany({
    where: { status: { in: ['sent', 'failed'] }, createdAt: { lte: new Date(now.getTime() - 7 * 86400_000) } },
  });
  return count;
}
