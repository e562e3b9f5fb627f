// Tenants of the actions API (a client with a secret key) and their own action configurations.
import type { Db } from './db.js';
import { sqlStatement } from './sql.js';

/** Sets the tenant's secret digest, replacing an earlier one (the old key stops working). */
export async function setTenantSecret(db: Db, clientId: string, secretDigest: string, now = new Date()): Promise<void> {
  await db.prisma.actionTenant.upsert({ where: { clientId }, create: { clientId, secretDigest, createdAt: now }, update: { secretDigest, createdAt: now } });
}

// Every server-API request finds its tenant by the key's digest; a track also needs the tenant's
// configuration of the action, so it asks both in one statement (TENANT_WITH_CONFIGURATION).
export const TENANT_BY_DIGEST = sqlStatement<{ clientId: string }>('SELECT "clientId" FROM "ActionTenant" WHERE "secretDigest" = ?');
export const TENANT_WITH_CONFIGURATION = sqlStatement<{ clientId: string; policy: string | null }>(
  'SELECT t."clientId", c."policy" FROM "ActionTenant" AS t LEFT JOIN "ActionConfiguration" AS c ON c."tenantId" = t."clientId" AND c."actionCode" = ? ' +
    'WHERE t."secretDigest" = ?',
);

export async function tenantBySecretDigest(db: Db, secretDigest: string): Promise<string | null> {
  return (await db.sql.one(TENANT_BY_DIGEST, [secretDigest]))?.clientId ?? null;
}

/** The tenant of a key's digest and its stored policy JSON for `actionCode` (null: none, the config file's applies). */
export async function tenantWithConfiguration(db: Db, secretDigest: string, actionCode: string): Promise<{ tenantId: string; policy: string | null } | null> {
  const row = await db.sql.one(TENANT_WITH_CONFIGURATION, [actionCode, secretDigest]);
  return row ? { tenantId: row.clientId, policy: row.policy } : null;
}

export async function isTenant(db: Db, clientId: string): Promise<boolean> {
  return (await db.prisma.actionTenant.count({ where: { clientId } })) > 0;
}

export async function removeTenant(db: Db, clientId: string): Promise<boolean> {
  return (await db.prisma.actionTenant.deleteMany({ where: { clientId } })).count > 0;
}

/** The tenant's stored policy JSON for an action code, or null when it has none (the config file's applies). */
export async function findActionConfiguration(db: Db, tenantId: string, actionCode: string): Promise<string | null> {
  return (await db.sql.one(CONFIGURATION, [tenantId, actionCode]))?.policy ?? null;
}

// Read on every sign-in of a client (does it have a sign-in policy?) and every track without the key.
export const CONFIGURATION = sqlStatement<{ policy: string }>('SELECT "policy" FROM "ActionConfiguration" WHERE "tenantId" = ? AND "actionCode" = ?');

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

/**
 * Replaces the tenant's configuration only if it is still `before` (null: there is none yet; a
 * null `after` deletes it): the rules API reads, changes and writes the policy JSON, and two
 * tenant requests at once must not lose each other's rule. False when someone changed it first.
 */
export async function replaceActionConfiguration(db: Db, tenantId: string, actionCode: string, before: string | null, after: string | null, now = new Date()): Promise<boolean> {
  if (before === null) {
    if (after === null) return true;
    try {
      await db.prisma.actionConfiguration.create({ data: { tenantId, actionCode, policy: after, updatedAt: now } });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') return false;
      throw err;
    }
  }
  if (after === null) return (await db.prisma.actionConfiguration.deleteMany({ where: { tenantId, actionCode, policy: before } })).count === 1;
  return (await db.prisma.actionConfiguration.updateMany({ where: { tenantId, actionCode, policy: before }, data: { policy: after, updatedAt: now } })).count === 1;
}
