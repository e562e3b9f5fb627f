// What tenants say about their users (the users API's attributes), one JSON row per tenant and the
// tenant's own user id. Never joined to User: these are a tenant's claims, not Sesame's facts.
import type { Db } from './db.js';

/** The tenant's stored attributes JSON for its user, or null when it has stored none. */
export async function findUserProfile(db: Db, tenantId: string, userId: string): Promise<string | null> {
  return (await db.prisma.actionUserProfile.findUnique({ where: { tenantId_userId: { tenantId, userId } } }))?.attributes ?? null;
}

export async function saveUserProfile(db: Db, tenantId: string, userId: string, attributes: string, now = new Date()): Promise<void> {
  await db.prisma.actionUserProfile.upsert({
    where: { tenantId_userId: { tenantId, userId } },
    create: { tenantId, userId, attributes, updatedAt: now },
    update: { attributes, updatedAt: now },
  });
}

export async function deleteUserProfile(db: Db, tenantId: string, userId: string): Promise<boolean> {
  return (await db.prisma.actionUserProfile.deleteMany({ where: { tenantId, userId } })).count > 0;
}
