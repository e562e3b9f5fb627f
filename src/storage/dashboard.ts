// The console dashboard's numbers, counted in the database that every instance shares (the
// prom-client registry only knows its own process): audit events, decisions and finished outbox
// messages per time bucket, grouped in SQL. A bucket is the whole number of `width` seconds since
// the window's start; the engines spell "seconds since the epoch" differently, so each statement
// has one version per engine. A folded audit row (repeated refusals, see audit.ts) counts `count`
// times, in the bucket of its first occurrence.
import type { Db } from './db.js';
import { sqlStatement, type Param } from './sql.js';
import type { Provider } from './migrate.js';

/** Buckets of `width` seconds from `start` (a whole minute or hour); the last one holds now. */
export interface TimeWindow {
  start: Date;
  width: number;
  buckets: number;
}

export interface AuditCount {
  bucket: number;
  type: string;
  reason: string | null;
  /** One identifier of the group: a group holds only phone numbers or only the rest, which is all the channel needs. */
  identifier: string | null;
  count: number;
}

export interface KeyedCount {
  bucket: number;
  key: string;
  count: number;
}

const SECONDS: Record<Provider, (column: string) => string> = {
  sqlite: (column) => `CAST(strftime('%s', ${column}) AS INTEGER)`,
  postgresql: (column) => `FLOOR(date_part('epoch', ${column}))::bigint`,
};
type Raw = { bucket: unknown; n: unknown };
// better-sqlite3 binds every JS number as a REAL: cast, or the division would not be a whole number.
const bucketOf = (engine: Provider, column: string) =>
  engine === 'sqlite' ? `(${SECONDS.sqlite(column)} - CAST(? AS INTEGER)) / CAST(? AS INTEGER)` : `(${SECONDS.postgresql(column)} - ?) / ?`;

const AUDIT = (bucket: string) =>
  `SELECT ${bucket} AS bucket, "type", "reason", MIN("identifier") AS identifier, SUM("count") AS n FROM "AuditEvent" ` +
  // Grouped by whether the identifier is a phone number (E.164) so that the channel survives the grouping.
  `WHERE "createdAt" >= ? AND "createdAt" < ? GROUP BY 1, 2, 3, ("identifier" LIKE '+%' AND "identifier" NOT LIKE '%@%')`;
export const AUDIT_COUNTS_SQLITE = sqlStatement<Raw & { type: string; reason: string | null; identifier: string | null }>(AUDIT(bucketOf('sqlite', '"createdAt"')), ['sqlite']);
export const AUDIT_COUNTS_POSTGRES = sqlStatement<Raw & { type: string; reason: string | null; identifier: string | null }>(AUDIT(bucketOf('postgresql', '"createdAt"')), [
  'postgresql',
]);

const DECISIONS = (bucket: string) =>
  `SELECT ${bucket} AS bucket, "outcome" AS label, COUNT(*) AS n FROM "ActionDecision" WHERE "createdAt" >= ? AND "createdAt" < ? GROUP BY 1, 2`;
export const DECISION_COUNTS_SQLITE = sqlStatement<Raw & { label: string }>(DECISIONS(bucketOf('sqlite', '"createdAt"')), ['sqlite']);
export const DECISION_COUNTS_POSTGRES = sqlStatement<Raw & { label: string }>(DECISIONS(bucketOf('postgresql', '"createdAt"')), ['postgresql']);

// A sent message counts when it was sent; a failed or skipped one (no such time is kept) when it was queued.
const FINISHED = 'COALESCE("sentAt", "createdAt")';
const DELIVERIES = (bucket: string) =>
  `SELECT ${bucket} AS bucket, "status" AS label, COUNT(*) AS n FROM "OutboxMessage" ` +
  `WHERE "status" IN ('sent', 'failed', 'skipped') AND ${FINISHED} >= ? AND ${FINISHED} < ? GROUP BY 1, 2`;
export const DELIVERY_COUNTS_SQLITE = sqlStatement<Raw & { label: string }>(DELIVERIES(bucketOf('sqlite', FINISHED)), ['sqlite']);
export const DELIVERY_COUNTS_POSTGRES = sqlStatement<Raw & { label: string }>(DELIVERIES(bucketOf('postgresql', FINISHED)), ['postgresql']);

function params(window: TimeWindow): Param[] {
  const end = new Date(window.start.getTime() + window.buckets * window.width * 1000);
  return [Math.floor(window.start.getTime() / 1000), window.width, window.start, end];
}

// PostgreSQL hands bigint counts over as text.
const counted = <R extends Raw>(rows: R[]) => rows.map((row) => ({ ...row, bucket: Number(row.bucket), n: Number(row.n) }));
const keyed = (rows: (Raw & { label: string })[]): KeyedCount[] => counted(rows).map(({ bucket, label, n }) => ({ bucket, key: label, count: n }));

/** Audit events per bucket, type, reason and channel. */
export async function auditCounts(db: Db, window: TimeWindow): Promise<AuditCount[]> {
  const rows = await db.sql.all(db.provider === 'postgresql' ? AUDIT_COUNTS_POSTGRES : AUDIT_COUNTS_SQLITE, params(window));
  return counted(rows).map(({ bucket, type, reason, identifier, n }) => ({ bucket, type, reason, identifier, count: n }));
}

/** Decisions per bucket and outcome (ALLOW, CHALLENGE, REVIEW, BLOCK). */
export async function decisionCounts(db: Db, window: TimeWindow): Promise<KeyedCount[]> {
  return keyed(await db.sql.all(db.provider === 'postgresql' ? DECISION_COUNTS_POSTGRES : DECISION_COUNTS_SQLITE, params(window)));
}

/** Finished outbox messages per bucket and status (sent, failed, skipped). */
export async function deliveryCounts(db: Db, window: TimeWindow): Promise<KeyedCount[]> {
  return keyed(await db.sql.all(db.provider === 'postgresql' ? DELIVERY_COUNTS_POSTGRES : DELIVERY_COUNTS_SQLITE, params(window)));
}

/** Decisions held for a person (the review queue's length). */
export function heldReviewCount(db: Db): Promise<number> {
  return db.prisma.actionDecision.count({ where: { state: 'REVIEW_REQUIRED' } });
}
