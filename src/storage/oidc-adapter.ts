// oidc-provider's storage adapter: every model in one table keyed by (model, id).
// Clients are the exception: they come from the Client table that `sesame clients add` fills.
import type { AdapterPayload } from 'oidc-provider';
import type { Db } from './db.js';
import { findClientMetadata } from './clients.js';
import type { OidcPayload } from './generated/sqlite/client.js';
import { readDate, sqlStatement, type RawRow } from './sql.js';

type PayloadRow = RawRow<OidcPayload, 'payload' | 'consumedAt' | 'expiresAt'>;

function toPayload(row: PayloadRow | undefined, now: number) {
  if (!row) return undefined;
  const expiresAt = readDate(row.expiresAt);
  if (expiresAt && expiresAt.getTime() <= now) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  const consumedAt = readDate(row.consumedAt);
  if (consumedAt) payload.consumed = Math.floor(consumedAt.getTime() / 1000);
  return payload;
}

// Every call here runs on token, userinfo and introspection requests, hence sql.ts, not Prisma.
const SELECT = 'SELECT "payload", "consumedAt", "expiresAt" FROM "OidcPayload" WHERE "model" = ? AND';
export const FIND_PAYLOAD = sqlStatement<PayloadRow>(`${SELECT} "id" = ?`);
export const FIND_PAYLOAD_BY_UID = sqlStatement<PayloadRow>(`${SELECT} "uid" = ? LIMIT 1`);
export const FIND_PAYLOAD_BY_USER_CODE = sqlStatement<PayloadRow>(`${SELECT} "userCode" = ? LIMIT 1`);
export const UPSERT_PAYLOAD = sqlStatement(
  'INSERT INTO "OidcPayload" ("model", "id", "payload", "grantId", "userCode", "uid", "expiresAt", "accountId") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ' +
    'ON CONFLICT ("model", "id") DO UPDATE SET "payload" = excluded."payload", "grantId" = excluded."grantId", ' +
    '"userCode" = excluded."userCode", "uid" = excluded."uid", "expiresAt" = excluded."expiresAt", "accountId" = excluded."accountId"',
);
export const CONSUME_PAYLOAD = sqlStatement('UPDATE "OidcPayload" SET "consumedAt" = ? WHERE "model" = ? AND "id" = ? AND "consumedAt" IS NULL');
export const DELETE_PAYLOAD = sqlStatement('DELETE FROM "OidcPayload" WHERE "model" = ? AND "id" = ?');
export const DELETE_GRANT_PAYLOADS = sqlStatement('DELETE FROM "OidcPayload" WHERE "grantId" = ?');

export function createAdapterClass(db: Db) {
  const { sql } = db;
  // Not `implements Adapter`: consume reports whether it consumed, which oidc/single-use.ts needs.
  return class SqlAdapter {
    constructor(readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      // Sessions only: the account page ends a user's other sessions by this (their tokens go by grantId).
      const accountId = this.model === 'Session' ? (payload.accountId ?? null) : null;
      const row = [this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresAt, accountId];
      await sql.run(UPSERT_PAYLOAD, row);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return findClientMetadata(db, id);
      return toPayload(await sql.one(FIND_PAYLOAD, [this.model, id]), Date.now());
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return toPayload(await sql.one(FIND_PAYLOAD_BY_UID, [this.model, uid]), Date.now());
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return toPayload(await sql.one(FIND_PAYLOAD_BY_USER_CODE, [this.model, userCode]), Date.now());
    }

    /** Stamps the row consumed; true only for the one call that did (a conditional update succeeds once). */
    async consume(id: string): Promise<boolean> {
      const changed = await sql.run(CONSUME_PAYLOAD, [new Date(), this.model, id]);
      return changed === 1;
    }

    async destroy(id: string): Promise<void> {
      await sql.run(DELETE_PAYLOAD, [this.model, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await sql.run(DELETE_GRANT_PAYLOADS, [grantId]);
    }
  };
}

/** Deletes expired rows; returns how many went. */
export async function sweepOidcPayloads(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.oidcPayload.deleteMany({ where: { expiresAt: { lte: now } } });
  return count;
}
