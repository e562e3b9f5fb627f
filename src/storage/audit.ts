// The audit log: one row per security event, with who, from where and why.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

export interface AuditEntry {
  type: string;
  clientId?: string | null;
  userId?: string | null;
  identifier?: string | null;
  ip?: string | null;
  reason?: string | null;
}

export async function recordAudit(db: Db, entry: AuditEntry): Promise<void> {
  await db.prisma.auditEvent.create({ data: { id: randomUUID(), ...entry } });
}

export function listAudit(db: Db, take = 100) {
  return db.prisma.auditEvent.findMany({ orderBy: { createdAt: 'desc' }, take });
}
