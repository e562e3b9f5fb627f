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

export async function deleteClient(db: Db, clientId: string): Promise<boolean> {
  const { count } = await db.prisma.client.deleteMany({ where: { clientId } });
  return count === 1;
}
