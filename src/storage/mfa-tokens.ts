// Auth0-style mfa_tokens at rest, by the SHA-256 of the token (a copy of the table opens nothing).
// Spending one is a conditional update: of any number of parallel grants, one succeeds.
import type { Db } from './db.js';

export interface MfaTokenRow {
  id: string;
  clientId: string;
  userId: string;
  /** The first factor's amr, as JSON. */
  amr: string;
  scope: string;
  resource: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  /** The risk decision whose CHALLENGE the token answers, or null (the MFA policy asked). */
  riskDecisionId: string | null;
}

export async function insertMfaToken(db: Db, row: Omit<MfaTokenRow, 'createdAt' | 'usedAt'>, now = new Date()): Promise<void> {
  await db.prisma.mfaToken.create({ data: { ...row, createdAt: now } });
}

export function findMfaToken(db: Db, id: string): Promise<MfaTokenRow | null> {
  return db.prisma.mfaToken.findUnique({ where: { id } });
}

/** Spends a live, unspent token: true for exactly one caller. */
export async function spendMfaToken(db: Db, id: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.mfaToken.updateMany({ where: { id, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } });
  return count === 1;
}

/** Tokens expired over an hour ago: nothing can use them. */
export async function sweepMfaTokens(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.mfaToken.deleteMany({ where: { expiresAt: { lte: new Date(now.getTime() - 3600_000) } } });
  return count;
}
