// The outbox: requests insert messages; workers claim them with a lease (see CLAIM), so two workers
// never send the same message at once and a crashed worker's lease simply runs out.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import type { OutboxMessage as OutboxMessageModel } from './generated/sqlite/client.js';
import { columnList, sqlStatement, type Param, type RawRow } from './sql.js';

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

export async function enqueueMessage(db: Db, message: OutgoingMessage, now = new Date()): Promise<string> {
  const [id, params] = messageParams(message, now);
  await db.sql.run(INSERT_MESSAGE, params);
  return id;
}

// Every code sent enqueues one message; storage/codes.ts batches it with the code (SEND_CODE).
export const INSERT_MESSAGE = sqlStatement(
  'INSERT INTO "OutboxMessage" ("id", "channel", "connectionId", "recipient", "subject", "text", "html", "status", "attempts", "nextAttemptAt", "createdAt") ' +
    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
);

/** A new message's id and the params of INSERT_MESSAGE, due at once. */
export function messageParams(message: OutgoingMessage, now: Date): [string, Param[]] {
  const row = outboxRow(message);
  return [row.id, [row.id, row.channel, row.connectionId, row.recipient, row.subject, row.text, row.html, now, now]];
}

/** The row of a new message, for a caller that stores it in a transaction of its own (a decision and its webhook). */
export function outboxRow(message: OutgoingMessage) {
  return { id: randomUUID(), ...message, connectionId: message.connectionId ?? null, html: message.html ?? null };
}

// One statement picks and leases the due messages, so two workers (in one process or in several
// instances) never take the same one. SQLite runs one writer at a time, so a plain UPDATE with a
// sub-select is enough there. On PostgreSQL the pick is a materialized CTE locked with FOR UPDATE
// SKIP LOCKED: concurrent workers pass over rows another is claiming instead of queueing behind it,
// and the UPDATE only touches rows this statement already holds. The CTE runs exactly once; as
// `WHERE id IN (sub-select)` the planner may run the locking sub-select again (a rescan), leaving
// rows locked but not leased that the other workers skip: under load, 10 claimers left 14 of 60
// messages unclaimed (test/storage/outbox.test.ts).
const CLAIMED = ['id', 'channel', 'connectionId', 'recipient', 'subject', 'text', 'html', 'attempts'] as const;
type ClaimedRow = RawRow<OutboxMessageModel, (typeof CLAIMED)[number]>;
const RETURNED = columnList<OutboxMessageModel>(CLAIMED);
const DUE = '"status" = \'pending\' AND "nextAttemptAt" <= ? AND ("lockedUntil" IS NULL OR "lockedUntil" <= ?)';
export const CLAIM_SQLITE = sqlStatement<ClaimedRow>(
  `UPDATE "OutboxMessage" SET "lockedUntil" = ? WHERE "id" IN (SELECT "id" FROM "OutboxMessage" WHERE ${DUE} ORDER BY "nextAttemptAt" LIMIT ?) ` + `RETURNING ${RETURNED}`,
  ['sqlite'],
);
export const CLAIM_POSTGRES = sqlStatement<ClaimedRow>(
  `WITH picked AS MATERIALIZED (SELECT "id" FROM "OutboxMessage" WHERE ${DUE} ORDER BY "nextAttemptAt" LIMIT ? FOR UPDATE SKIP LOCKED) ` +
    `UPDATE "OutboxMessage" AS o SET "lockedUntil" = ? FROM picked WHERE o."id" = picked."id" ` +
    `RETURNING ${RETURNED.split(', ')
      .map((column) => `o.${column}`)
      .join(', ')}`,
  ['postgresql'],
);

/** Claims up to `limit` due messages for `leaseSeconds`. */
export async function claimDueMessages(db: Db, limit: number, leaseSeconds: number, now = new Date()): Promise<ClaimedMessage[]> {
  const lease = new Date(now.getTime() + leaseSeconds * 1000);
  // On SQLite the claim waits for an open Prisma transaction to end (sqliteSql), so it never leases
  // (and the worker never sends) a row that transaction may yet roll back (a wake before a commit).
  const rows = db.provider === 'postgresql' ? await db.sql.all(CLAIM_POSTGRES, [now, now, limit, lease]) : await db.sql.all(CLAIM_SQLITE, [lease, now, now, limit]);
  return rows.map((row) => ({
    id: row.id,
    channel: row.channel === 'webhook' || row.channel === 'sms' ? row.channel : 'email',
    connectionId: row.connectionId ?? undefined,
    recipient: row.recipient,
    subject: row.subject ?? '',
    text: row.text,
    html: row.html ?? undefined,
    attempts: Number(row.attempts),
  }));
}

// Subject, text and html hold the code or link; once a message is finished nobody needs them.
const ERASED = { subject: null, text: '', html: null };

// Every code sent is marked sent once: prepared, as Prisma's update cost more CPU than the rest of the send.
const SENT = `"status" = 'sent', "sentAt" = ?, "lockedUntil" = NULL, "attempts" = "attempts" + 1`;
export const MARK_SENT = sqlStatement(`UPDATE "OutboxMessage" SET ${SENT} WHERE "id" = ?`);
export const MARK_SENT_ERASED = sqlStatement(`UPDATE "OutboxMessage" SET ${SENT}, "subject" = NULL, "text" = '', "html" = NULL WHERE "id" = ?`);

/** Marks a message sent; its bodies are erased unless `keepBody` (captured for the dev outbox, never delivered). */
export async function markSent(db: Db, id: string, keepBody: boolean, now = new Date()): Promise<void> {
  await db.sql.run(keepBody ? MARK_SENT : MARK_SENT_ERASED, [now, id]);
}

/** Marks a message its channel declined to send; its body (which holds a code) is always dropped. */
export async function markSkipped(db: Db, id: string, reason: string): Promise<void> {
  await db.prisma.outboxMessage.update({
    where: { id },
    data: { status: 'skipped', lockedUntil: null, lastError: reason.slice(0, 500), ...ERASED },
  });
}

/**
 * Records a failed attempt: retried at `retryAt`, or given up when `retryAt` is null. A given-up
 * message keeps its bodies for RETRYABLE_FOR so an operator can retry it once the channel is fixed
 * (storage/outbox-operations.ts); the sweep erases them after that.
 */
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

/** How many messages wait to be sent, and since when the oldest (the metrics' outbox gauges). */
export async function outboxBacklog(db: Db): Promise<{ pending: number; oldestAt: Date | null }> {
  const { _count, _min } = await db.prisma.outboxMessage.aggregate({ where: { status: 'pending' }, _count: { _all: true }, _min: { createdAt: true } });
  return { pending: _count._all, oldestAt: _min.createdAt };
}

export function listMessages(db: Db, take = 50) {
  return db.prisma.outboxMessage.findMany({ orderBy: { createdAt: 'desc' }, take });
}

/** Seconds a given-up message keeps its bodies (so it can be retried), counted from its creation. */
export const RETRYABLE_FOR = 86_400;

/** Erases the bodies of given-up messages past RETRYABLE_FOR, then deletes messages finished more than a week ago. */
export async function sweepOutbox(db: Db, now = new Date()): Promise<number> {
  await db.prisma.outboxMessage.updateMany({
    where: { status: 'failed', text: { not: '' }, createdAt: { lte: new Date(now.getTime() - RETRYABLE_FOR * 1000) } },
    data: ERASED,
  });
  const { count } = await db.prisma.outboxMessage.deleteMany({
    where: { status: { in: ['sent', 'failed', 'skipped'] }, createdAt: { lte: new Date(now.getTime() - 7 * 86400_000) } },
  });
  return count;
}
