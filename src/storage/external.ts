// Storage of external connections: service clients and their public keys, identities of external
// subjects, and pending hand-off states (single use by conditional update).
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import { newExternalUser, refreshExternalUser, userExists } from './users.js';

export interface ServiceKeyRow {
  kid: string;
  clientId: string;
  publicJwk: string;
  allowProfile: boolean;
  revokedAt: Date | null;
  client: { connectionId: string; revokedAt: Date | null };
}

export async function insertServiceClient(db: Db, client: { id: string; connectionId: string; name?: string }, key: { kid: string; publicJwk: string; allowProfile: boolean }) {
  await db.prisma.$transaction([
    db.prisma.serviceClient.create({ data: { id: client.id, connectionId: client.connectionId, name: client.name ?? null } }),
    db.prisma.serviceClientKey.create({ data: { ...key, clientId: client.id } }),
  ]);
}

export async function insertServiceKey(db: Db, clientId: string, key: { kid: string; publicJwk: string; allowProfile: boolean }) {
  await db.prisma.serviceClientKey.create({ data: { ...key, clientId } });
}

export function findServiceClient(db: Db, id: string) {
  return db.prisma.serviceClient.findUnique({ where: { id } });
}

/** A key with its client, for checking an assertion. */
export async function findServiceKey(db: Db, kid: string): Promise<ServiceKeyRow | null> {
  const key = await db.prisma.serviceClientKey.findUnique({ where: { kid } });
  if (!key) return null;
  const client = await db.prisma.serviceClient.findUnique({ where: { id: key.clientId }, select: { connectionId: true, revokedAt: true } });
  return client ? { ...key, client } : null;
}

export async function listServiceClients(db: Db, connectionId?: string) {
  const clients = await db.prisma.serviceClient.findMany({ where: connectionId ? { connectionId } : {}, orderBy: { createdAt: 'asc' } });
  const keys = await db.prisma.serviceClientKey.findMany({ where: { clientId: { in: clients.map((c) => c.id) } }, orderBy: { createdAt: 'asc' } });
  return clients.map((c) => ({
    clientId: c.id,
    connectionId: c.connectionId,
    createdAt: c.createdAt,
    revokedAt: c.revokedAt,
    keys: keys.filter((k) => k.clientId === c.id).map((k) => ({ keyId: k.kid, createdAt: k.createdAt, revokedAt: k.revokedAt, allowProfile: k.allowProfile })),
  }));
}

/** Revokes a whole service client, or one of its keys; false when nothing live matched. */
export async function revokeService(db: Db, clientId: string, kid?: string, now = new Date()): Promise<boolean> {
  if (kid) {
    const { count } = await db.prisma.serviceClientKey.updateMany({ where: { kid, clientId, revokedAt: null }, data: { revokedAt: now } });
    return count === 1;
  }
  const { count } = await db.prisma.serviceClient.updateMany({ where: { id: clientId, revokedAt: null }, data: { revokedAt: now } });
  return count === 1;
}

export async function insertExternalState(db: Db, row: { id: string; connectionId: string; interactionUid: string; clientId: string; expiresAt: Date }) {
  await db.prisma.externalState.create({ data: row });
}

export function findExternalState(db: Db, id: string) {
  return db.prisma.externalState.findUnique({ where: { id } });
}

/** Uses a pending state; true for exactly one caller while it is live. */
export async function consumeExternalState(db: Db, id: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.externalState.updateMany({ where: { id, consumedAt: null, expiresAt: { gt: now } }, data: { consumedAt: now } });
  return count === 1;
}

/**
 * The user of (connection, subject), created on first sign-in. `profile.email` is stored as the
 * user's verified email: pass it only when the connection is trusted for it and no one else has it.
 */
export async function externalUser(db: Db, connectionId: string, subject: string, create: boolean, profile: { email?: string; name?: string } = {}) {
  const found = await db.prisma.externalIdentity.findUnique({ where: { connectionId_subject: { connectionId, subject } } });
  if (found) {
    if (profile.name || profile.email) {
      await refreshExternalUser(db, found.userId, profile);
    }
    return found.userId;
  }
  if (!create) return null;
  const userId = randomUUID();
  await db.prisma.$transaction([newExternalUser(db, userId, profile), db.prisma.externalIdentity.create({ data: { connectionId, subject, userId } })]);
  return userId;
}

/**
 * The operator's link: (connection, subject) signs in as `userId` from now on. Returns the user it
 * signed in as before (that account is kept), or why not: no such identity, or no such user.
 */
export async function linkExternalIdentity(
  db: Db,
  connectionId: string,
  subject: string,
  userId: string,
): Promise<{ previousUserId: string } | 'unknown_identity' | 'unknown_user'> {
  const identity = await db.prisma.externalIdentity.findUnique({ where: { connectionId_subject: { connectionId, subject } } });
  if (!identity) return 'unknown_identity';
  if (!(await userExists(db, userId))) return 'unknown_user';
  await db.prisma.externalIdentity.update({ where: { connectionId_subject: { connectionId, subject } }, data: { userId } });
  return { previousUserId: identity.userId };
}

export async function sweepExternalStates(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.externalState.deleteMany({ where: { expiresAt: { lte: new Date(now.getTime() - 86400_000) } } });
  return count;
}
