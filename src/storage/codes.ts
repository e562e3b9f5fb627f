// One-time codes at rest: only keyed HMACs, attempts counted and consumption done by conditional
// updates, so a code can be tried at most N times and used at most once, across instances.
import { eventParams, INSERT_EVENT, type AuditEntry } from './audit.js';
import type { Db } from './db.js';
import { INSERT_MESSAGE, messageParams, type OutgoingMessage } from './outbox.js';
import type { OneTimeCode } from './generated/sqlite/client.js';
import { columnList, readDate, sqlBatch, sqlStatement, type Param, type RawRow } from './sql.js';
import { countAudit } from '../metrics/events.js';

export interface CodeRow {
  id: string;
  flowKey: string;
  identifier: string;
  codeHash: string;
  keyId: string;
  attempts: number;
  expiresAt: Date;
  createdAt: Date;
}

/**
 * Stores a new code and retires the earlier live code of its flow. Codes of other flows for the same
 * identifier stay: a send from someone else's browser or API flow must not retire the code the
 * victim is typing.
 */
export async function insertCode(db: Db, row: NewCode, now = new Date()): Promise<void> {
  await db.sql.batch(STORE_CODE, codeParams(row, now));
}

export type NewCode = Omit<CodeRow, 'attempts' | 'createdAt'>;

// A send writes the code (retiring the flow's earlier one), its message and its audit event: one
// batch (sql.ts sqlBatch), so the request makes one round trip for them and a crash leaves either
// all three or none (never a code without its message, or a message with no code behind it).
export const RETIRE_CODES = sqlStatement('UPDATE "OneTimeCode" SET "replacedAt" = ? WHERE "flowKey" = ? AND "consumedAt" IS NULL AND "replacedAt" IS NULL');
export const INSERT_CODE = sqlStatement(
  'INSERT INTO "OneTimeCode" ("id", "flowKey", "identifier", "codeHash", "keyId", "attempts", "createdAt", "expiresAt") VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
);
export const STORE_CODE = sqlBatch([RETIRE_CODES, INSERT_CODE]);
// It carries no NOTIFY: PostgreSQL serialises the commits of all transactions that notify, each
// holding one database-wide lock through its WAL flush, so under load every send queued behind the
// others' disk writes. The other instances are told apart from it (delivery/wake.ts).
export const SEND_CODE = sqlBatch([RETIRE_CODES, INSERT_CODE, INSERT_MESSAGE, INSERT_EVENT]);

function codeParams(row: NewCode, now: Date): Param[][] {
  return [
    [now, row.flowKey],
    [row.id, row.flowKey, row.identifier, row.codeHash, row.keyId, now, row.expiresAt],
  ];
}

/**
 * Stores a new code (as insertCode), the message carrying it and the audit event of the send, all
 * or none.
 */
export async function insertCodeWithMessage(db: Db, row: NewCode, message: OutgoingMessage, audit: AuditEntry, now = new Date()): Promise<void> {
  const [, messageRow] = messageParams(message, now);
  await db.sql.batch(SEND_CODE, [...codeParams(row, now), messageRow, eventParams(audit, now)]);
  countAudit(audit);
}

// A code check reads the flow's live code, spends an attempt and consumes it: prepared statements,
// since every check runs them (sql.ts). Spending and consuming are conditional updates, each one
// statement, so parallel checks cannot spend more attempts than allowed or use a code twice.
const CODE_COLUMNS = ['id', 'flowKey', 'identifier', 'codeHash', 'keyId', 'attempts', 'expiresAt', 'createdAt'] as const;
export const FIND_LIVE_CODE = sqlStatement<RawRow<OneTimeCode, (typeof CODE_COLUMNS)[number]>>(
  `SELECT ${columnList<OneTimeCode>(CODE_COLUMNS)} FROM "OneTimeCode" WHERE "flowKey" = ? AND "consumedAt" IS NULL AND "replacedAt" IS NULL ORDER BY "createdAt" DESC LIMIT 1`,
);
export const SPEND_ATTEMPT = sqlStatement(
  'UPDATE "OneTimeCode" SET "attempts" = "attempts" + 1 WHERE "id" = ? AND "attempts" < ? AND "consumedAt" IS NULL AND "replacedAt" IS NULL',
);
export const CONSUME_CODE = sqlStatement('UPDATE "OneTimeCode" SET "consumedAt" = ? WHERE "id" = ? AND "consumedAt" IS NULL AND "replacedAt" IS NULL');

// Before it shows a step, a hosted page asks a sign-in's flow whether a login link approved it from
// another device (used, not yet redeemed) and which code is live: one statement for both. The
// approval's row puts its id and user where the code's id and identifier are (its other columns
// are typed nulls: PostgreSQL types a bare one text, which no union with a number takes).
export const FIND_APPROVAL_AND_LIVE_CODE = sqlStatement<RawRow<OneTimeCode, (typeof CODE_COLUMNS)[number]> & { kind: 'code' | 'approval' }>(
  `SELECT * FROM (${FIND_LIVE_CODE.text.replace('SELECT ', "SELECT 'code' AS kind, ")}) AS live UNION ALL ` +
    `SELECT * FROM (SELECT 'approval' AS kind, "id", NULL, "userId", NULL, NULL, CAST(NULL AS integer), CAST(NULL AS timestamp(3)), CAST(NULL AS timestamp(3)) FROM "MagicLink" ` +
    'WHERE "flowKey" = ? AND "consumedAt" IS NOT NULL AND "redeemedAt" IS NULL AND "userId" IS NOT NULL LIMIT 1) AS approval',
);

const codeOf = (row: RawRow<OneTimeCode, (typeof CODE_COLUMNS)[number]>): CodeRow => ({
  ...row,
  attempts: Number(row.attempts),
  expiresAt: readDate(row.expiresAt)!,
  createdAt: readDate(row.createdAt)!,
});

/** The live (newest, unconsumed, not replaced) code of a flow, expired or not. */
export async function findLiveCode(db: Db, flowKey: string): Promise<CodeRow | null> {
  const row = await db.sql.one(FIND_LIVE_CODE, [flowKey]);
  return row ? codeOf(row) : null;
}

/** A flow's login-link approval waiting to be redeemed (its link's id and user), and its live code. */
export async function findApprovalAndLiveCode(db: Db, flowKey: string): Promise<{ approval: { id: string; userId: string } | null; liveCode: CodeRow | null }> {
  const rows = await db.sql.all(FIND_APPROVAL_AND_LIVE_CODE, [flowKey, flowKey]);
  const approval = rows.find((row) => row.kind === 'approval');
  const code = rows.find((row) => row.kind === 'code');
  return { approval: approval ? { id: approval.id, userId: approval.identifier } : null, liveCode: code ? codeOf(code) : null };
}

/** Spends one attempt; false when none is left (or the code is gone). */
export async function spendAttempt(db: Db, id: string, maxAttempts: number): Promise<boolean> {
  return (await db.sql.run(SPEND_ATTEMPT, [id, maxAttempts])) === 1;
}

/** Marks the code used; true for exactly one caller. */
export async function consumeCode(db: Db, id: string, now = new Date()): Promise<boolean> {
  return (await db.sql.run(CONSUME_CODE, [now, id])) === 1;
}

/** Drops the live code of a flow ("use another email"). */
export async function retireFlowCodes(db: Db, flowKey: string, now = new Date()): Promise<void> {
  await db.sql.run(RETIRE_CODES, [now, flowKey]);
}

/** Deletes codes that expired more than a day ago (kept a day for support questions). */
export async function sweepCodes(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.oneTimeCode.deleteMany({ where: { expiresAt: { lte: new Date(now.getTime() - 86400_000) } } });
  return count;
}
