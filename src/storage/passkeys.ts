// Passkeys at rest: a user's WebAuthn credentials, the user handle they carry, and the single-use
// challenges of their ceremonies (consumed by a conditional update, so a challenge answers once).
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from './db.js';

export interface PasskeyRow {
  id: string;
  userId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  aaguid: string;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

type Stored = Omit<PasskeyRow, 'counter' | 'transports'> & { counter: bigint; transports: string };

function fromStored(row: Stored): PasskeyRow {
  return { ...row, counter: Number(row.counter), transports: row.transports ? row.transports.split(',') : [] };
}

export type NewPasskey = Omit<PasskeyRow, 'createdAt' | 'lastUsedAt'>;

export async function insertPasskey(db: Db, row: NewPasskey, now = new Date()): Promise<PasskeyRow> {
  const data = { ...row, counter: BigInt(row.counter), transports: row.transports.join(','), createdAt: now };
  return fromStored(await db.prisma.passkey.create({ data }));
}

/** A passkey sign-up's account: identifiers not proven (a passkey proves a device, not an inbox or a phone). */
export interface NewPasskeyUser {
  email: string | null;
  phoneNumber: string | null;
  name: string | null;
  passkeyHandle: string;
}

/**
 * Creates a passkey sign-up's account and its first passkey in one transaction, with email and
 * phone unverified. Null when the email, number or handle already has an account (a unique
 * collision, also between two sign-ups racing).
 */
export async function insertUserWithPasskey(db: Db, user: NewPasskeyUser, passkey: Omit<NewPasskey, 'userId'>, now = new Date()): Promise<PasskeyRow | null> {
  const userId = randomUUID();
  const data = { ...passkey, userId, counter: BigInt(passkey.counter), transports: passkey.transports.join(','), createdAt: now };
  try {
    const [, row] = await db.prisma.$transaction([
      db.prisma.user.create({ data: { id: userId, ...user, emailVerified: false, phoneVerified: false } }),
      db.prisma.passkey.create({ data }),
    ]);
    return fromStored(row);
  } catch (err) {
    if ((err as { code?: string }).code === 'P2002') return null;
    throw err;
  }
}

export async function findPasskey(db: Db, id: string): Promise<PasskeyRow | null> {
  const row = await db.prisma.passkey.findUnique({ where: { id } });
  return row ? fromStored(row) : null;
}

/** A user's passkeys, newest first. */
export async function listPasskeys(db: Db, userId: string): Promise<PasskeyRow[]> {
  return (await db.prisma.passkey.findMany({ where: { userId }, orderBy: { createdAt: 'desc' } })).map(fromStored);
}

export function countPasskeys(db: Db, userId: string): Promise<number> {
  return db.prisma.passkey.count({ where: { userId } });
}

/**
 * Records a use: the new counter and the time. Conditional on the counter read before the check, so
 * two parallel assertions with one counter value cannot both move it (the loser gets false).
 */
export async function recordPasskeyUse(db: Db, id: string, before: number, counter: number, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.passkey.updateMany({ where: { id, counter: BigInt(before) }, data: { counter: BigInt(counter), lastUsedAt: now } });
  return count === 1;
}

/** Renames one of this user's passkeys; false when the user has no such passkey. */
export async function renamePasskey(db: Db, userId: string, id: string, name: string): Promise<boolean> {
  return (await db.prisma.passkey.updateMany({ where: { id, userId }, data: { name } })).count === 1;
}

/** Removes one of this user's passkeys; false when the user has no such passkey. */
export async function deletePasskey(db: Db, userId: string, id: string): Promise<boolean> {
  return (await db.prisma.passkey.deleteMany({ where: { id, userId } })).count === 1;
}

/** Removes every passkey of a user (support: a lost device; an account whose inbox was proven later). */
export async function deleteUserPasskeys(db: Db, userId: string): Promise<number> {
  return (await db.prisma.passkey.deleteMany({ where: { userId } })).count;
}

/** The user's passkey handle, made on first use. Two first enrolments at once agree on one. */
export async function passkeyHandleOf(db: Db, userId: string): Promise<string> {
  const made = randomBytes(32).toString('base64url');
  await db.prisma.user.updateMany({ where: { id: userId, passkeyHandle: null }, data: { passkeyHandle: made } });
  const user = await db.prisma.user.findUnique({ where: { id: userId }, select: { passkeyHandle: true } });
  if (!user?.passkeyHandle) throw new Error(`no user ${userId}`);
  return user.passkeyHandle;
}

/** The user a passkey handle belongs to. */
export async function userOfPasskeyHandle(db: Db, handle: string): Promise<string | null> {
  return (await db.prisma.user.findUnique({ where: { passkeyHandle: handle }, select: { id: true } }))?.id ?? null;
}

export type ChallengePurpose = 'register' | 'authenticate';

export interface ChallengeRow {
  id: string;
  challenge: string;
  purpose: ChallengePurpose;
  userId: string | null;
  boundTo: string;
  /** JSON of what a sign-up registration was asked with (the API's user_profile). */
  profile: string | null;
  expiresAt: Date;
}

export async function insertChallenge(db: Db, row: ChallengeRow): Promise<void> {
  await db.prisma.passkeyChallenge.create({ data: row });
}

/** Consumes a live challenge of this purpose bound to `boundTo`: returned to exactly one caller. */
export async function consumeChallenge(db: Db, id: string, purpose: ChallengePurpose, boundTo: string, now = new Date()): Promise<ChallengeRow | null> {
  const { count } = await db.prisma.passkeyChallenge.updateMany({ where: { id, purpose, boundTo, usedAt: null, expiresAt: { gt: now } }, data: { usedAt: now } });
  if (count !== 1) return null;
  const row = await db.prisma.passkeyChallenge.findUnique({ where: { id } });
  return row && { ...row, purpose: row.purpose as ChallengePurpose };
}

export async function sweepPasskeyChallenges(db: Db, now = new Date()): Promise<number> {
  return (await db.prisma.passkeyChallenge.deleteMany({ where: { expiresAt: { lte: now } } })).count;
}
