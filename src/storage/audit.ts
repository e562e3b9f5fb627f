// The audit log: one row per security event, with who, from where and why. Anonymous traffic can
// repeat a refusal at will, so identical refusals (types ending in .failed, .refused or _limited)
// within REPEAT_WINDOW count on one row (`count`, `lastAt`) instead of adding rows; successes
// (sent, login, link.used...) keep a row each. Rows older than the retention are swept.
import { createHash, randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import { sqlStatement, type Param } from './sql.js';
import { countAudit } from '../metrics/events.js';

export interface AuditEntry {
  type: string;
  clientId?: string | null;
  userId?: string | null;
  identifier?: string | null;
  ip?: string | null;
  reason?: string | null;
  /** The browser of a sign-in (shown on the account page). */
  userAgent?: string | null;
}

/** Seconds after an event during which identical ones are counted on its row. */
export const REPEAT_WINDOW = 60;

const REFUSAL = /(\.failed|\.refused|_limited)$/;

function repeatKey(entry: AuditEntry): string {
  const fields = [entry.type, entry.clientId, entry.userId, entry.identifier, entry.ip, entry.reason].map((v) => v ?? null);
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64url');
}

// One statement finds and counts on the newest identical row of the window. Two requests racing
// with no such row yet may both insert: a few rows more, never a lost count.
export const COUNT_REPEAT = sqlStatement(
  'UPDATE "AuditEvent" SET "count" = "count" + 1, "lastAt" = ? WHERE "id" = ' +
    '(SELECT "id" FROM "AuditEvent" WHERE "repeatKey" = ? AND "createdAt" >= ? ORDER BY "createdAt" DESC LIMIT 1)',
);

/** Writes one event, then moves its metrics (here, the one door every audit event goes through, so they agree). */
export async function recordAudit(db: Db, entry: AuditEntry, now = new Date()): Promise<void> {
  await writeAudit(db, entry, now);
  countAudit(entry);
}

// A success keeps a row of its own: one prepared insert (batched with the code on a send, SEND_CODE).
export const INSERT_EVENT = sqlStatement(
  'INSERT INTO "AuditEvent" ("id", "type", "clientId", "userId", "identifier", "ip", "reason", "userAgent", "count", "createdAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)',
);

/** The params of INSERT_EVENT for a success (not a refusal: those count on a repeated row). */
export function eventParams(entry: AuditEntry, now: Date): Param[] {
  if (REFUSAL.test(entry.type)) throw new Error(`${entry.type} is a refusal; record it with recordAudit`);
  const { type, clientId, userId, identifier, ip, reason, userAgent } = entry;
  return [randomUUID(), type, clientId ?? null, userId ?? null, identifier ?? null, ip ?? null, reason ?? null, userAgent ?? null, now];
}

async function writeAudit(db: Db, entry: AuditEntry, now: Date): Promise<void> {
  if (!REFUSAL.test(entry.type)) {
    await db.sql.run(INSERT_EVENT, eventParams(entry, now));
    return;
  }
  const key = repeatKey(entry);
  const windowStart = new Date(now.getTime() - REPEAT_WINDOW * 1000);
  if ((await db.sql.run(COUNT_REPEAT, [now, key, windowStart])) > 0) return;
  await db.prisma.auditEvent.create({ data: { id: randomUUID(), ...entry, repeatKey: key, createdAt: now } });
}

/** Audit types of a completed sign-in (`reason` says the method). */
export const SIGN_IN_TYPES = ['login', 'link.used', 'passkey.login'];

/** A user's latest sign-ins, newest first. */
export function recentSignIns(db: Db, userId: string, take = 10) {
  return db.prisma.auditEvent.findMany({
    where: { userId, type: { in: SIGN_IN_TYPES } },
    orderBy: { createdAt: 'desc' },
    take,
    select: { type: true, reason: true, ip: true, userAgent: true, createdAt: true },
  });
}

export function listAudit(db: Db, take = 100) {
  return db.prisma.auditEvent.findMany({ orderBy: { createdAt: 'desc' }, take });
}

/** Deletes events whose latest occurrence is older than `retentionSeconds`. */
export async function sweepAudit(db: Db, retentionSeconds: number, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - retentionSeconds * 1000);
  const { count } = await db.prisma.auditEvent.deleteMany({
    where: { createdAt: { lt: cutoff }, OR: [{ lastAt: null }, { lastAt: { lt: cutoff } }] },
  });
  return count;
}

/** A user's latest events of every type, newest first (the management API's export). */
export function auditOfUser(db: Db, userId: string, take: number) {
  return db.prisma.auditEvent.findMany({
    where: { userId },
    orderBy: { createdAt: 'desc' },
    take,
    select: { type: true, clientId: true, ip: true, userAgent: true, reason: true, count: true, createdAt: true },
  });
}

/** Where a page of the log stopped: the last row shown, in the (createdAt, id) order the log is read in. */
export interface AuditPosition {
  createdAt: Date;
  id: string;
}

export interface AuditQuery {
  /** Events about one user: by their id, or by the email or phone they were about (before an account existed, say); both given: either. */
  user?: { id?: string; identifier?: string };
  clientId?: string;
  /** Any of these types. */
  types?: readonly string[];
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  /** Only rows older than this position (the previous page's last). */
  after?: AuditPosition | null;
  limit: number;
}

/** The largest page the log is read in, whatever a caller asks. */
export const MAX_AUDIT_PAGE = 10_000;

/** The stored columns of an event, without the internal repeat hash. */
const AUDIT_COLUMNS = {
  id: true,
  type: true,
  clientId: true,
  userId: true,
  identifier: true,
  ip: true,
  reason: true,
  userAgent: true,
  count: true,
  createdAt: true,
  lastAt: true,
} as const;

/**
 * A page of the log, newest first, and where the next page starts (null at the end). Keyed on
 * (createdAt, id), so rows written while a reader walks the pages land before its first page: every
 * older row is seen once, none skipped.
 */
export async function queryAudit(db: Db, q: AuditQuery) {
  const limit = Math.max(1, Math.min(MAX_AUDIT_PAGE, Math.floor(q.limit)));
  const about = q.user ? [q.user.id ? { userId: q.user.id } : null, q.user.identifier ? { identifier: q.user.identifier } : null].filter((w) => w !== null) : [];
  const where = {
    AND: [
      ...(q.user ? [{ OR: about.length ? about : [{ id: { in: [] as string[] } }] }] : []),
      ...(q.clientId !== undefined ? [{ clientId: q.clientId }] : []),
      ...(q.types?.length ? [{ type: { in: [...q.types] } }] : []),
      ...(q.from ? [{ createdAt: { gte: q.from } }] : []),
      ...(q.to ? [{ createdAt: { lt: q.to } }] : []),
      ...(q.after ? [{ OR: [{ createdAt: { lt: q.after.createdAt } }, { createdAt: q.after.createdAt, id: { lt: q.after.id } }] }] : []),
    ],
  };
  const rows = await db.prisma.auditEvent.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: limit + 1, select: AUDIT_COLUMNS });
  const events = rows.slice(0, limit);
  const last = events.at(-1);
  return { events, next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null };
}

export type AuditRow = Awaited<ReturnType<typeof queryAudit>>['events'][number];

/** A position as an opaque cursor (base64url of the time in milliseconds and the id). */
export function encodeAuditCursor(position: AuditPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt.getTime(), position.id])).toString('base64url');
}

/** The position a cursor of encodeAuditCursor names, or null for anything else (a tampered or made-up cursor). */
export function decodeAuditCursor(cursor: string): AuditPosition | null {
  if (!/^[\w-]{1,400}$/.test(cursor)) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 2) return null;
  const [ms, id] = value as unknown[];
  if (!Number.isSafeInteger(ms) || (ms as number) < 0 || (ms as number) > 8.64e15) return null;
  if (typeof id !== 'string' || !/^[\w-]{1,100}$/.test(id)) return null;
  return { createdAt: new Date(ms as number), id };
}

/** Distinct event types in the log, sorted (the console's type filter offers these). */
export async function auditTypes(db: Db): Promise<string[]> {
  const rows = await db.prisma.auditEvent.groupBy({ by: ['type'], orderBy: { type: 'asc' } });
  return rows.map((r) => r.type);
}
