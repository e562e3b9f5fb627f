// One-time codes at rest: only keyed HMACs, attempts counted and consumption done by conditional
// updates, so a code can be tried at most N times and used at most once, across instances.
import type { Db } from './db.js';

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
export async function insertCode(db: Db, row: Omit<CodeRow, 'attempts' | 'createdAt'>, now = new Date()): Promise<void> {
  await db.prisma.$transaction([
    db.prisma.oneTimeCode.updateMany({ where: { flowKey: row.flowKey, consumedAt: null, replacedAt: null }, data: { replacedAt: now } }),
    db.prisma.oneTimeCode.create({ data: { ...row, createdAt: now } }),
  ]);
}

/** The live (newest, unconsumed, not replaced) code of a flow, expired or not. */
export function findLiveCode(db: Db, flowKey: string): Promise<CodeRow | null> {
  return db.prisma.oneTimeCode.findFirst({
    where: { flowKey, consumedAt: null, replacedAt: null },
    orderBy: { createdAt: 'desc' },
  });
}

/** Spends one attempt; false when none is left (or the code is gone). */
export async function spendAttempt(db: Db, id: string, maxAttempts: number): Promise<boolean> {
  const { count } = await db.prisma.oneTimeCode.updateMany({
    where: { id, attempts: { lt: maxAttempts }, consumedAt: null, replacedAt: null },
    data: { attempts: { increment: 1 } },
  });
  return count === 1;
}

/** Marks the code used; true for exactly one caller. */
export async function consumeCode(db: Db, id: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.oneTimeCode.updateMany({ where: { id, consumedAt: null, replacedAt: null }, data: { consumedAt: now } });
  return count === 1;
}

/** Drops the live code of a flow ("use another email"). */
export async function retireFlowCodes(db: Db, flowKey: string, now = new Date()): Promise<void> {
  await db.prisma.oneTimeCode.updateMany({ where: { flowKey, consumedAt: null, replacedAt: null }, data: { replacedAt: now } });
}

/** Deletes codes that expired more than a day ago (kept a day for support questions). */
export async function sweepCodes(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.oneTimeCode.deleteMany({ where: { expiresAt: { lte: new Date(now.getTime() - 86400_000) } } });
  return count;
}
