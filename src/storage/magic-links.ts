// Magic links at rest: token HMACs, single use by conditional updates, approvals redeemed once.
import type { Db } from './db.js';
import type { MagicLink as LinkModel } from './generated/sqlite/client.js';
import { columnList, readDate, sqlBatch, sqlStatement, type RawRow } from './sql.js';

export interface LinkRow {
  id: string;
  tokenHash: string;
  keyId: string;
  type: string;
  email: string;
  clientId: string | null;
  flowKey: string | null;
  matchNumber: string | null;
  requestIp: string | null;
  requestFrom: string | null;
  createdAt: Date;
  attempts: number;
  expiresAt: Date;
  consumedAt: Date | null;
  revokedAt: Date | null;
  userId: string | null;
}

type NewLink = Omit<LinkRow, 'attempts' | 'consumedAt' | 'revokedAt' | 'userId' | 'createdAt'>;

// Every hosted sign-in by email stores a login link and reads its sign-in's links on each page:
// hand-written statements (sql.ts) rather than Prisma's client, which cost about 0.3 ms of CPU each.
const LINK_COLUMNS = [
  'id',
  'tokenHash',
  'keyId',
  'type',
  'email',
  'clientId',
  'flowKey',
  'matchNumber',
  'requestIp',
  'requestFrom',
  'createdAt',
  'attempts',
  'expiresAt',
  'consumedAt',
  'revokedAt',
  'userId',
] as const satisfies readonly (keyof LinkRow & keyof LinkModel)[];
type LinkColumn = (typeof LINK_COLUMNS)[number];
const SELECT_LINK = `SELECT ${columnList<LinkModel>(LINK_COLUMNS)} FROM "MagicLink"`;

export const REVOKE_FLOW_LINKS = sqlStatement('UPDATE "MagicLink" SET "revokedAt" = ? WHERE "flowKey" = ? AND "consumedAt" IS NULL AND "revokedAt" IS NULL');
export const INSERT_LINK = sqlStatement(
  'INSERT INTO "MagicLink" ("id", "tokenHash", "keyId", "type", "email", "clientId", "flowKey", "matchNumber", "requestIp", "requestFrom", "attempts", "createdAt", "expiresAt") ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)',
);
/** A sign-in's new login link and the revocation of its earlier ones commit together. */
export const REPLACE_FLOW_LINK = sqlBatch([REVOKE_FLOW_LINKS, INSERT_LINK]);
export const FIND_LINK = sqlStatement<RawRow<LinkModel, LinkColumn>>(`${SELECT_LINK} WHERE "id" = ?`);
export const FIND_LIVE_FLOW_LINK = sqlStatement<RawRow<LinkModel, LinkColumn>>(
  `${SELECT_LINK} WHERE "flowKey" = ? AND "consumedAt" IS NULL AND "revokedAt" IS NULL AND "expiresAt" > ? ORDER BY "createdAt" DESC LIMIT 1`,
);
export const FIND_APPROVAL = sqlStatement<RawRow<LinkModel, LinkColumn>>(
  `${SELECT_LINK} WHERE "flowKey" = ? AND "consumedAt" IS NOT NULL AND "redeemedAt" IS NULL AND "userId" IS NOT NULL LIMIT 1`,
);

function linkOf(row: RawRow<LinkModel, LinkColumn>): LinkRow {
  return { ...row, createdAt: readDate(row.createdAt)!, expiresAt: readDate(row.expiresAt)!, consumedAt: readDate(row.consumedAt), revokedAt: readDate(row.revokedAt) };
}

/** Stores a link; a new login link of a sign-in replaces that sign-in's earlier ones. */
export async function insertLink(db: Db, row: NewLink, now = new Date()): Promise<void> {
  const values = [row.id, row.tokenHash, row.keyId, row.type, row.email, row.clientId, row.flowKey, row.matchNumber, row.requestIp, row.requestFrom, now, row.expiresAt];
  if (row.flowKey) await db.sql.batch(REPLACE_FLOW_LINK, [[now, row.flowKey], values]);
  else await db.sql.run(INSERT_LINK, values);
}

export async function findLink(db: Db, id: string): Promise<LinkRow | null> {
  const row = await db.sql.one(FIND_LINK, [id]);
  return row ? linkOf(row) : null;
}

/** The newest live login link of sign-in `flowKey`. */
export async function findLiveFlowLink(db: Db, flowKey: string, now = new Date()): Promise<LinkRow | null> {
  const row = await db.sql.one(FIND_LIVE_FLOW_LINK, [flowKey, now]);
  return row ? linkOf(row) : null;
}

/**
 * Uses the link up for `userId`; true for exactly one caller while it is live. `settled` marks the
 * use as already redeemed, so it never approves the sign-in the link belongs to.
 */
export async function consumeLink(db: Db, id: string, userId: string, now = new Date(), settled = false): Promise<boolean> {
  const { count } = await db.prisma.magicLink.updateMany({
    where: { id, consumedAt: null, revokedAt: null, expiresAt: { gt: now } },
    data: { consumedAt: now, userId, ...(settled ? { redeemedAt: now } : {}) },
  });
  return count === 1;
}

/** Revokes one live link; false when it was not live. */
export async function revokeLink(db: Db, id: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.magicLink.updateMany({ where: { id, consumedAt: null, revokedAt: null }, data: { revokedAt: now } });
  return count === 1;
}

/** Revokes every live link sent to `email`; returns how many. */
export async function revokeLinksOf(db: Db, email: string, now = new Date()): Promise<number> {
  const { count } = await db.prisma.magicLink.updateMany({ where: { email, consumedAt: null, revokedAt: null }, data: { revokedAt: now } });
  return count;
}

/** Revokes the live links of sign-in `flowKey`. */
export async function revokeFlowLinks(db: Db, flowKey: string, now = new Date()): Promise<void> {
  await db.prisma.magicLink.updateMany({ where: { flowKey, consumedAt: null, revokedAt: null }, data: { revokedAt: now } });
}

/** An approval (a used login link) of the sign-in `flowKey` not yet redeemed by it. */
export async function findApproval(db: Db, flowKey: string): Promise<LinkRow | null> {
  const row = await db.sql.one(FIND_APPROVAL, [flowKey]);
  return row ? linkOf(row) : null;
}

/** Marks an approval redeemed; true for exactly one caller. */
export async function redeemApproval(db: Db, id: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.magicLink.updateMany({ where: { id, redeemedAt: null }, data: { redeemedAt: now } });
  return count === 1;
}

/** Deletes links that expired more than a day ago. */
export async function sweepLinks(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.magicLink.deleteMany({ where: { expiresAt: { lte: new Date(now.getTime() - 86400_000) } } });
  return count;
}
