// What tenants say about their users (the users API's attributes), one JSON row per tenant and the
// tenant's own user id. Never joined to User: these are a tenant's claims, not Sesame's facts.
import type { Db } from './db.js';

/** The tenant's stored attributes JSON for its user, or null when it has stored none. */
export async function findUserProfile(db: Db, tenantId: string, userId: string): Promise<string | null> {
  return (await db.prisma.actionUserProfile.findUnique({ where: { tenantId_userId: { tenantId, userId } } }))?.attributes ?? null;
}

/**
 * Replaces the tenant's attributes of its user only if they are still `before` (null: none yet),
 * so two updates at once never lose each other's attributes. False when someone changed them first.
 */
export async function replaceUserProfile(db: Db, tenantId: string, userId: string, before: string | null, after: string, now = new Date()): Promise<boolean> {
  if (before !== null) {
    return (await db.prisma.actionUserProfile.updateMany({ where: { tenantId, userId, attributes: before }, data: { attributes: after, updatedAt: now } })).count === 1;
  }
  try {
    await db.prisma.actionUserProfile.create({ data: { tenantId, userId, attributes: after, updatedAt: now } });
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'P2002') return false;
    throw err;
  }
}

export async function deleteUserProfile(db: Db, tenantId: string, userId: string): Promise<boolean> {
  return (await db.prisma.actionUserProfile.deleteMany({ where: { tenantId, userId } })).count > 0;
}
