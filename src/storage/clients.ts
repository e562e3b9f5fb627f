// Clients registered with `sesame clients` or /api/v1/clients, stored as oidc-provider metadata JSON
// (the secret in it as is: oidc-provider compares it, and HS256 tokens are keyed with it).
import type { AdapterPayload } from 'oidc-provider';
import type { Db } from './db.js';
import type { Client as ClientModel } from './generated/sqlite/client.js';
import { sqlStatement, type RawRow } from './sql.js';

export interface StoredClient {
  clientId: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
}

// On every request that names a client: sql.ts rather than Prisma.
export const FIND_CLIENT_METADATA = sqlStatement<RawRow<ClientModel, 'metadata'>>('SELECT "metadata" FROM "Client" WHERE "clientId" = ?');

export async function findClientMetadata(db: Db, clientId: string): Promise<AdapterPayload | undefined> {
  const row = await db.sql.one(FIND_CLIENT_METADATA, [clientId]);
  return row ? (JSON.parse(row.metadata) as AdapterPayload) : undefined;
}

/** Inserts a client; returns false when the id is taken. */
export async function insertClient(db: Db, clientId: string, metadata: Record<string, unknown>): Promise<boolean> {
  const { count } = await db.prisma.client.createMany({ data: [{ clientId, metadata: JSON.stringify(metadata) }] }).catch((err: unknown) => {
    if ((err as { code?: string }).code === 'P2002') return { count: 0 };
    throw err;
  });
  return count === 1;
}

/** One stored client with `version`, the stored text that a conditional update must still find. */
export async function findStoredClient(db: Db, clientId: string): Promise<(StoredClient & { version: string }) | undefined> {
  const row = await db.prisma.client.findUnique({ where: { clientId } });
  return row ? { clientId: row.clientId, metadata: JSON.parse(row.metadata) as Record<string, unknown>, createdAt: row.createdAt, version: row.metadata } : undefined;
}

/** Replaces a client's metadata only if it is still `version`; false when it changed or went meanwhile. */
export async function replaceClientMetadata(db: Db, clientId: string, version: string, metadata: Record<string, unknown>): Promise<boolean> {
  const { count } = await db.prisma.client.updateMany({ where: { clientId, metadata: version }, data: { metadata: JSON.stringify(metadata) } });
  return count === 1;
}

export async function listClients(db: Db): Promise<StoredClient[]> {
  const rows = await db.prisma.client.findMany({ orderBy: { createdAt: 'asc' } });
  return rows.map((r) => ({ clientId: r.clientId, metadata: JSON.parse(r.metadata) as Record<string, unknown>, createdAt: r.createdAt }));
}

/**
 * Deletes a client with its grants and every token, code and grant-bound row issued to it: a token
 * of a removed client must not outlive it (and a client registered later under the same id must not
 * inherit them). OidcPayload has no client column, so rows are found by the clientId in their JSON
 * (a rare operator action, so a scan of the matching rows is fine) and checked after parsing.
 */
export async function deleteClientAndTokens(db: Db, clientId: string): Promise<boolean> {
  const candidates = await db.prisma.oidcPayload.findMany({
    where: { payload: { contains: `"clientId":${JSON.stringify(clientId)}` } },
    select: { model: true, id: true, payload: true },
  });
  const own = candidates.filter((row) => (JSON.parse(row.payload) as { clientId?: unknown }).clientId === clientId);
  const grantIds = own.filter((row) => row.model === 'Grant').map((row) => row.id);
  const [, , removed] = await db.prisma.$transaction([
    db.prisma.oidcPayload.deleteMany({ where: { grantId: { in: grantIds } } }),
    db.prisma.oidcPayload.deleteMany({ where: { OR: own.map((row) => ({ model: row.model, id: row.id })) } }),
    db.prisma.client.deleteMany({ where: { clientId } }),
  ]);
  return removed.count === 1;
}
