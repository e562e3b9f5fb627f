// Second factors at rest: a user's authenticators (TOTP secrets only sealed, out-of-band addresses)
// and their recovery codes (only HMACs). Every single-use rule is a conditional update, so two
// parallel uses of one TOTP step or one recovery code succeed once, on any engine and instance.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import { sqlStatement } from './sql.js';

export type AuthenticatorType = 'totp' | 'sms' | 'email' | 'recovery-code';

export interface AuthenticatorRow {
  id: string;
  userId: string;
  type: AuthenticatorType;
  confirmed: boolean;
  name: string | null;
  /** The MFA key the sealed TOTP secret is under (null for other types). */
  secretKeyId: string | null;
  secretSealed: string | null;
  phoneNumber: string | null;
  email: string | null;
  lastUsedStep: number | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export type NewAuthenticator = Pick<AuthenticatorRow, 'id' | 'userId' | 'type'> &
  Partial<Pick<AuthenticatorRow, 'confirmed' | 'name' | 'secretKeyId' | 'secretSealed' | 'phoneNumber' | 'email'>>;

function typed<R extends { type: string }>(row: R): R & { type: AuthenticatorType } {
  return row as R & { type: AuthenticatorType };
}

export async function insertAuthenticator(db: Db, row: NewAuthenticator, now = new Date()): Promise<AuthenticatorRow> {
  return typed(await db.prisma.authenticator.create({ data: { ...row, createdAt: now } }));
}

/** One of this user's authenticators (null for another user's id, so ids from a request are safe). */
export async function findAuthenticator(db: Db, userId: string, id: string): Promise<AuthenticatorRow | null> {
  const row = await db.prisma.authenticator.findFirst({ where: { id, userId } });
  return row && typed(row);
}

/** A user's authenticators, oldest first (the first enrolled is the default challenge). */
export async function listAuthenticators(db: Db, userId: string, filter: { type?: AuthenticatorType; confirmed?: boolean } = {}): Promise<AuthenticatorRow[]> {
  const rows = await db.prisma.authenticator.findMany({ where: { userId, ...filter }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  return rows.map(typed);
}

// What a user is enrolled with, in one statement (a track's answer asks every time): 'passkey' first
// when there is one, then the confirmed factors' types oldest first; nothing for an id that is no user.
export const ENROLLED = sqlStatement<{ sort_rank: number; type: string; createdAt: Date | string | null }>(
  'SELECT 0 AS sort_rank, \'passkey\' AS "type", NULL AS "createdAt" WHERE EXISTS (SELECT 1 FROM "Passkey" WHERE "userId" = ?) ' +
    'AND EXISTS (SELECT 1 FROM "User" WHERE "id" = ?) ' +
    'UNION ALL SELECT 1, a."type", a."createdAt" FROM "Authenticator" AS a WHERE a."userId" = ? AND a."confirmed" = ? ' +
    'AND EXISTS (SELECT 1 FROM "User" AS u WHERE u."id" = a."userId") ORDER BY 1, 3',
);

/** 'passkey' when the user has one, then the types of its confirmed factors, oldest first (with repeats). */
export async function enrolledTypes(db: Db, userId: string): Promise<string[]> {
  return (await db.sql.all(ENROLLED, [userId, userId, userId, true])).map((row) => row.type);
}

/**
 * Records the use of TOTP time step `step`: only when it is later than every step used before, so a
 * code works once and an older code never works after a newer one. `confirming` finishes an
 * enrolment instead (only an unconfirmed authenticator); otherwise only a confirmed one is used.
 * True for exactly one of any number of parallel callers with one step.
 */
export async function useTotpStep(db: Db, id: string, step: number, confirming: boolean, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.authenticator.updateMany({
    where: { id, type: 'totp', confirmed: !confirming, OR: [{ lastUsedStep: null }, { lastUsedStep: { lt: step } }] },
    data: { lastUsedStep: step, lastUsedAt: now, confirmed: true },
  });
  return count === 1;
}

/** Confirms an out-of-band authenticator (its first code arrived); false when already confirmed or gone. */
export async function confirmAuthenticator(db: Db, userId: string, id: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.authenticator.updateMany({ where: { id, userId, confirmed: false }, data: { confirmed: true, lastUsedAt: now } });
  return count === 1;
}

/** Drops a user's unfinished enrolments of one type (a new enrolment replaces an abandoned one). */
export async function deleteUnconfirmed(db: Db, userId: string, type: AuthenticatorType): Promise<number> {
  return (await db.prisma.authenticator.deleteMany({ where: { userId, type, confirmed: false } })).count;
}

/** Removes one of this user's authenticators (with its recovery codes); false when the user has no such one. */
export async function deleteAuthenticator(db: Db, userId: string, id: string): Promise<boolean> {
  const [, removed] = await db.prisma.$transaction([
    db.prisma.recoveryCode.deleteMany({ where: { userId, authenticatorId: id } }),
    db.prisma.authenticator.deleteMany({ where: { id, userId } }),
  ]);
  return removed.count === 1;
}

/** Removes every factor of a user (support: a reset); returns how many authenticators went. */
export async function deleteUserAuthenticators(db: Db, userId: string): Promise<number> {
  const [, removed] = await db.prisma.$transaction([db.prisma.recoveryCode.deleteMany({ where: { userId } }), db.prisma.authenticator.deleteMany({ where: { userId } })]);
  return removed.count;
}

export interface RecoveryCodeHash {
  keyId: string;
  codeHash: string;
}

/**
 * Makes `codes` the user's only recovery codes, under their recovery-code authenticator `id` (made
 * on first use, confirmed: the codes are shown once, at once). The authenticator row is updated
 * first inside the transaction: on PostgreSQL that row lock queues a parallel regeneration behind
 * this one, whose delete then sees these codes, so one set survives, never two.
 */
export async function replaceRecoveryCodes(db: Db, userId: string, id: string, codes: readonly RecoveryCodeHash[], now = new Date()): Promise<void> {
  // Two first generations at once agree on the one id; whoever inserts second only finds it there.
  await db.prisma.authenticator.createMany({ data: [{ id, userId, type: 'recovery-code', confirmed: true, createdAt: now }] }).catch(() => undefined);
  const rows = codes.map((code) => ({ id: randomUUID(), authenticatorId: id, userId, ...code, createdAt: now }));
  await db.prisma.$transaction([
    db.prisma.authenticator.updateMany({ where: { id, userId }, data: { confirmed: true } }),
    db.prisma.recoveryCode.deleteMany({ where: { userId } }),
    db.prisma.recoveryCode.createMany({ data: rows }),
  ]);
}

/**
 * Uses the unused recovery code of this user matching one of `candidates` (its HMAC under each key
 * still configured): true for exactly one caller, however many race with the same code.
 */
export async function useRecoveryCode(db: Db, userId: string, candidates: readonly RecoveryCodeHash[], now = new Date()): Promise<boolean> {
  if (candidates.length === 0) return false;
  const { count } = await db.prisma.recoveryCode.updateMany({
    where: { userId, usedAt: null, OR: candidates.map((c) => ({ keyId: c.keyId, codeHash: c.codeHash })) },
    data: { usedAt: now },
  });
  if (count > 0) await db.prisma.authenticator.updateMany({ where: { userId, type: 'recovery-code' }, data: { lastUsedAt: now } });
  return count > 0;
}

/** Adds one code to the user's set (the one the recovery-code grant hands back for the code just used). */
export async function addRecoveryCode(db: Db, userId: string, id: string, code: RecoveryCodeHash, now = new Date()): Promise<void> {
  await db.prisma.recoveryCode.create({ data: { id: randomUUID(), authenticatorId: id, userId, ...code, createdAt: now } });
}

/** How many of the user's recovery codes are still unused. */
export function countRecoveryCodes(db: Db, userId: string): Promise<number> {
  return db.prisma.recoveryCode.count({ where: { userId, usedAt: null } });
}

/** Enrolments never finished, started over a day ago: they hold a sealed secret nobody will confirm. */
export async function sweepUnconfirmedAuthenticators(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.authenticator.deleteMany({ where: { confirmed: false, createdAt: { lte: new Date(now.getTime() - 86400_000) } } });
  return count;
}

/** Whether `phone` is the number of someone's SMS factor (enrolled, or being enrolled): texts to it are for a user. */
export async function isFactorPhone(db: Db, phone: string): Promise<boolean> {
  return (await db.prisma.authenticator.count({ where: { type: 'sms', phoneNumber: phone } })) > 0;
}

/** Records that a confirmed factor was just used. */
export async function touchAuthenticator(db: Db, userId: string, id: string, now = new Date()): Promise<void> {
  await db.prisma.authenticator.updateMany({ where: { id, userId, confirmed: true }, data: { lastUsedAt: now } });
}

/**
 * Removes one of this user's authenticators unless it is their last confirmed second factor (an
 * app, phone or email; recovery codes never count): 'last' then, 'none' when the user has no such
 * one. The first statement touches every such row of the user, which on PostgreSQL locks them
 * until commit: two removals at once count one after the other, so they cannot both leave none.
 */
export async function deleteAuthenticatorKeepingOne(db: Db, userId: string, id: string): Promise<'removed' | 'last' | 'none'> {
  return db.prisma.$transaction(async (tx) => {
    const held = await tx.authenticator.updateMany({ where: { userId, confirmed: true, type: { not: 'recovery-code' } }, data: { confirmed: true } });
    const target = await tx.authenticator.findFirst({ where: { id, userId } });
    if (!target) return 'none';
    if (target.confirmed && target.type !== 'recovery-code' && held.count <= 1) return 'last';
    await tx.recoveryCode.deleteMany({ where: { userId, authenticatorId: id } });
    await tx.authenticator.deleteMany({ where: { id, userId } });
    return 'removed';
  });
}

/**
 * Inserts a confirmed authenticator unless the user has a confirmed one of its type (null then), and
 * says whether it is the user's first confirmed one. The first statement touches the user's row,
 * which on PostgreSQL holds it until commit: parallel enrolments are checked one after the other,
 * so one of each type survives and only one of them is the first.
 */
export async function insertSoleConfirmed(db: Db, row: NewAuthenticator, now = new Date()): Promise<{ row: AuthenticatorRow; first: boolean } | null> {
  return db.prisma.$transaction(async (tx) => {
    await tx.user.updateMany({ where: { id: row.userId }, data: { updatedAt: now } });
    const held = await tx.authenticator.findMany({ where: { userId: row.userId, confirmed: true }, select: { type: true } });
    if (held.some((a) => a.type === row.type)) return null;
    const created = await tx.authenticator.create({ data: { ...row, confirmed: true, createdAt: now } });
    return { row: typed(created), first: held.length === 0 };
  });
}
