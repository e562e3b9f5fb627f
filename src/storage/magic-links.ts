// Magic links at rest: token HMACs, single use by conditional updates, approvals redeemed once.
import type { Db } from './db.js';

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

/** Stores a link; a new login link of a sign-in replaces that sign-in's earlier ones. */
export async function insertLink(db: Db, row: NewLink, now = new Date()): Promise<void> {
  await db.prisma.$transaction([
    ...(row.flowKey ? [db.prisma.magicLink.updateMany({ where: { flowKey: row.flowKey, consumedAt: null, revokedAt: null }, data: { revokedAt: now } })] : []),
    db.prisma.magicLink.create({ data: { ...row, createdAt: now } }),
  ]);
}

export function findLink(db: Db, id: string): Promise<LinkRow | null> {
  return db.prisma.magicLink.findUnique({ where: { id } });
}

/** The newest live login link of sign-in `flowKey`. */
export function findLiveFlowLink(db: Db, flowKey: string, now = new Date()): Promise<LinkRow | null> {
  return db.prisma.magicLink.findFirst({
    where: { flowKey, consumedAt: null, revokedAt: null, expiresAt: { gt: now } },
    orderBy: { createdAt: 'desc' },
  });
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
export function findApproval(db: Db, flowKey: string) {
  return db.prisma.magicLink.findFirst({ where: { flowKey, consumedAt: { not: null }, redeemedAt: null, userId: { not: null } } });
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
