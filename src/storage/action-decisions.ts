// Tracked actions and their decisions (risk actions). The idempotency key is unique per tenant, so
// two parallel tracks with one key store one decision and both answer it.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

export interface ActionDecisionRow {
  id: string;
  tenantId: string;
  userId: string;
  actionCode: string;
  idempotencyKey: string;
  outcome: string;
  state: string;
  ruleIds: string;
  explanation: string;
  ip: string | null;
  deviceId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewActionDecision = Omit<ActionDecisionRow, 'id' | 'createdAt' | 'updatedAt'>;

/** Stores a decision; when the tenant already has one under this idempotency key, that one instead. */
export async function insertDecision(db: Db, row: NewActionDecision, now = new Date()): Promise<{ row: ActionDecisionRow; created: boolean }> {
  try {
    return { row: await db.prisma.actionDecision.create({ data: { ...row, id: randomUUID(), createdAt: now, updatedAt: now } }), created: true };
  } catch (err) {
    // A unique violation: a parallel track with this key stored its decision first.
    const stored = await findDecision(db, row.tenantId, row.idempotencyKey);
    if (!stored) throw err;
    return { row: stored, created: false };
  }
}

export function findDecision(db: Db, tenantId: string, idempotencyKey: string): Promise<ActionDecisionRow | null> {
  return db.prisma.actionDecision.findUnique({ where: { tenantId_idempotencyKey: { tenantId, idempotencyKey } } });
}

/** How many actions of `actionCode` the tenant tracked since `since` for this user or from this address. */
export function countActions(db: Db, where: { tenantId: string; actionCode: string; since: Date } & ({ userId: string } | { ip: string })): Promise<number> {
  const { since, ...rest } = where;
  return db.prisma.actionDecision.count({ where: { ...rest, createdAt: { gte: since } } });
}

/** Whether the user had an allowed (or passed) action from this device before. */
export async function deviceKnown(db: Db, tenantId: string, userId: string, deviceId: string): Promise<boolean> {
  const states = ['ALLOW', 'CHALLENGE_SUCCEEDED', 'REVIEW_SUCCEEDED'];
  return (await db.prisma.actionDecision.count({ where: { tenantId, userId, deviceId, state: { in: states } } })) > 0;
}

/** Decisions older than the retention period. */
export async function sweepDecisions(db: Db, before: Date): Promise<number> {
  return (await db.prisma.actionDecision.deleteMany({ where: { createdAt: { lt: before } } })).count;
}
