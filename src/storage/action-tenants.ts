// Tenants of the actions API (a client with a secret key) and their own action configurations.
import type { Db } from './db.js';

/** Sets the tenant's secret digest, replacing an earlier one (the old key stops working). */
export async function setTenantSecret(db: Db, clientId: string, secretDigest: string, now = new Date()): Promise<void> {
  await db.prisma.actionTenant.upsert({ where: { clientId }, create: { clientId, secretDigest, createdAt: now }, update: { secretDigest, createdAt: now } });
}

export async function tenantBySecretDigest(db: Db, secretDigest: string): Promise<string | null> {
  return (await db.prisma.actionTenant.findUnique({ where: { secretDigest } }))?.clientId ?? null;
}

export async function isTenant(db: Db, clientId: string): Promise<boolean> {
  return (await db.prisma.actionTenant.count({ where: { clientId } })) > 0;
}

export async function removeTenant(db: Db, clientId: string): Promise<boolean> {
  return (await db.prisma.actionTenant.deleteMany({ where: { clientId } })).count > 0;
}

/** The tenant's stored policy JSON for an action code, or null when it has none (the config file's applies). */
export async function findActionConfiguration(db: Db, tenantId: string, actionCode: string): Promise<string | null> {
  return (await db.prisma.actionConfiguration.findUnique({ where: { tenantId_actionCode: { tenantId, actionCode } } }))?.policy ?? null;
}

export function listActionConfigurations(db: Db, tenantId: string): Promise<{ actionCode: string; policy: string; updatedAt: Date }[]> {
  return db.prisma.actionConfiguration.findMany({ where: { tenantId }, orderBy: { actionCode: 'asc' }, select: { actionCode: true, policy: true, updatedAt: true } });
}

export async function saveActionConfiguration(db: Db, tenantId: string, actionCode: string, policy: string, now = new Date()): Promise<void> {
  await db.prisma.actionConfiguration.upsert({
    where: { tenantId_actionCode: { tenantId, actionCode } },
    create: { tenantId, actionCode, policy, updatedAt: now },
    update: { policy, updatedAt: now },
  });
}

export async function deleteActionConfiguration(db: Db, tenantId: string, actionCode: string): Promise<boolean> {
  return (await db.prisma.actionConfiguration.deleteMany({ where: { tenantId, actionCode } })).count > 0;
}
