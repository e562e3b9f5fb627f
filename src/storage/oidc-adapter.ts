// oidc-provider's storage adapter over Prisma: every model in one table keyed by (model, id).
// Clients are the exception: they come from the Client table that `sesame clients add` fills.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Db } from './db.js';
import { findClientMetadata } from './clients.js';

function toPayload(row: { payload: string; consumedAt: Date | null; expiresAt: Date | null }, now: number) {
  if (row.expiresAt && row.expiresAt.getTime() <= now) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  if (row.consumedAt) payload.consumed = Math.floor(row.consumedAt.getTime() / 1000);
  return payload;
}

export function createAdapterClass(db: Db) {
  const table = db.prisma.oidcPayload;
  return class PrismaAdapter implements Adapter {
    constructor(readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const data = {
        payload: JSON.stringify(payload),
        grantId: payload.grantId ?? null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        expiresAt: expiresIn ? new Date(Date.now() + expiresIn * 1000) : null,
      };
      await table.upsert({ where: { model_id: { model: this.model, id } }, create: { model: this.model, id, ...data }, update: data });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return findClientMetadata(db, id);
      const row = await table.findUnique({ where: { model_id: { model: this.model, id } } });
      return row ? toPayload(row, Date.now()) : undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const row = await table.findFirst({ where: { model: this.model, uid } });
      return row ? toPayload(row, Date.now()) : undefined;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const row = await table.findFirst({ where: { model: this.model, userCode } });
      return row ? toPayload(row, Date.now()) : undefined;
    }

    async consume(id: string): Promise<void> {
      await table.updateMany({ where: { model: this.model, id, consumedAt: null }, data: { consumedAt: new Date() } });
    }

    async destroy(id: string): Promise<void> {
      await table.deleteMany({ where: { model: this.model, id } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await table.deleteMany({ where: { grantId } });
    }
  };
}

/** Deletes expired rows; returns how many went. */
export async function sweepOidcPayloads(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.oidcPayload.deleteMany({ where: { expiresAt: { lte: now } } });
  return count;
}
