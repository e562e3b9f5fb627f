// Signing keys: generated on first start, rotated with overlap. The newest active key of each
// algorithm signs; retired keys stay published until the tokens they signed have expired.
import { exportJWK, generateKeyPair, calculateJwkThumbprint, type JWK } from 'jose';
import type { Db } from './db.js';
import { sqlStatement } from './sql.js';

export const SIGNING_ALGS = ['RS256', 'ES256'] as const;

export interface StoredKey {
  kid: string;
  alg: string;
  createdAt: Date;
  retiredAt: Date | null;
  removeAt: Date | null;
}

async function newKey(alg: (typeof SIGNING_ALGS)[number]) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, alg, jwk: JSON.stringify({ ...jwk, kid, alg, use: 'sig' }) };
}

const hasActive = async (db: Pick<Db['prisma'], 'signingKey'>, alg: string) => (await db.signingKey.count({ where: { alg, retiredAt: null } })) > 0;
// Any constant: it only has to differ from the migrator's lock key.
const FIRST_KEYS_LOCK = 7_351_940_113;
// SQLite's way: the insert itself checks there is still no active key (one writer at a time).
export const INSERT_FIRST_KEY = sqlStatement(
  'INSERT INTO "SigningKey" ("kid", "alg", "jwk", "createdAt") SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "SigningKey" WHERE "alg" = ? AND "retiredAt" IS NULL)',
  ['sqlite'],
);

/**
 * Makes sure one active key per algorithm exists. Instances starting together on an empty database
 * must not each add one (each would sign with a key the others do not publish yet), so the insert
 * happens only if there still is none: one statement on SQLite (one writer at a time), under an
 * advisory lock on PostgreSQL.
 */
export async function ensureSigningKeys(db: Db): Promise<void> {
  for (const alg of SIGNING_ALGS) {
    if (await hasActive(db.prisma, alg)) continue;
    const key = await newKey(alg);
    if (db.provider === 'sqlite') {
      await db.sql.run(INSERT_FIRST_KEY, [key.kid, key.alg, key.jwk, new Date(), alg]);
    } else {
      await db.prisma.$transaction(async (tx) => {
        await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(${FIRST_KEYS_LOCK})::text`);
        if (!(await hasActive(tx, alg))) await tx.signingKey.create({ data: key });
      });
    }
  }
}

/** Private JWKs for the provider: active keys first (they sign), then retired ones still published. */
export async function loadSigningJwks(db: Db, now = new Date()): Promise<JWK[]> {
  const rows = await db.prisma.signingKey.findMany({
    where: { OR: [{ retiredAt: null }, { removeAt: { gt: now } }] },
    orderBy: { createdAt: 'desc' },
  });
  const active = rows.filter((r) => !r.retiredAt);
  const retired = rows.filter((r) => r.retiredAt);
  return [...active, ...retired].map((r) => JSON.parse(r.jwk) as JWK);
}

/**
 * Retires the active keys and creates new ones. Retired keys stay published for `overlapSeconds`
 * (the longest lifetime of a token they may have signed).
 */
export async function rotateSigningKeys(db: Db, overlapSeconds: number, now = new Date()): Promise<StoredKey[]> {
  const fresh = await Promise.all(SIGNING_ALGS.map(newKey));
  await db.prisma.$transaction([
    db.prisma.signingKey.updateMany({
      where: { retiredAt: null },
      data: { retiredAt: now, removeAt: new Date(now.getTime() + overlapSeconds * 1000) },
    }),
    db.prisma.signingKey.deleteMany({ where: { removeAt: { lte: now } } }),
    db.prisma.signingKey.createMany({ data: fresh.map((k) => ({ ...k, createdAt: new Date(now.getTime() + 1) })) }),
  ]);
  return listSigningKeys(db);
}

export async function listSigningKeys(db: Db): Promise<StoredKey[]> {
  return db.prisma.signingKey.findMany({
    select: { kid: true, alg: true, createdAt: true, retiredAt: true, removeAt: true },
    orderBy: { createdAt: 'desc' },
  });
}

/** The public half of a stored JWK: only the members a verifier needs, so no private member can slip through. */
export function publicJwk(jwk: JWK): JWK {
  const members: Array<keyof JWK> = jwk.kty === 'EC' ? ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use'] : ['kty', 'n', 'e', 'kid', 'alg', 'use'];
  return Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as JWK;
}

/** The published keys (those loadSigningJwks serves) with their public JWKs, for operators (management API, console), newest first. */
export async function listPublicSigningKeys(db: Db, now = new Date()): Promise<Array<StoredKey & { jwk: JWK }>> {
  const rows = await db.prisma.signingKey.findMany({ where: { OR: [{ retiredAt: null }, { removeAt: { gt: now } }] }, orderBy: { createdAt: 'desc' } });
  return rows.map(({ kid, alg, createdAt, retiredAt, removeAt, jwk }) => ({ kid, alg, createdAt, retiredAt, removeAt, jwk: publicJwk(JSON.parse(jwk) as JWK) }));
}
