// Users: created on their first verified sign-in (under the sign-up policy).
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import type { User as UserModel } from './generated/sqlite/client.js';
import { columnList, readBool, readDate, sqlStatement, type RawRow } from './sql.js';

// The columns a User carries in the code, for Prisma's `select` and the hand-written statement alike.
const fields = { id: true, email: true, emailVerified: true, phoneNumber: true, phoneVerified: true, name: true, blockedAt: true } as const;
type UserColumn = keyof typeof fields;

export type User = Pick<UserModel, UserColumn>;
/** A User's columns and its row as read, for a statement elsewhere that reads one along (oidc-adapter.ts). */
export const USER_COLUMNS = Object.keys(fields) as UserColumn[];
export type UserRow = RawRow<UserModel, UserColumn>;

// On every userinfo, token and introspection request: sql.ts rather than Prisma.
export const FIND_USER_BY_ID = sqlStatement<RawRow<UserModel, UserColumn>>(`SELECT ${columnList<UserModel>(Object.keys(fields) as UserColumn[])} FROM "User" WHERE "id" = ?`);

export async function findUserById(db: Db, id: string): Promise<User | null> {
  const row = await db.sql.one(FIND_USER_BY_ID, [id]);
  return row ? userOf(row) : null;
}

/** A User from its row as read (also a prefetched one, oidc-adapter.ts). */
export function userOf(row: RawRow<UserModel, UserColumn>): User {
  return {
    id: row.id,
    email: row.email,
    emailVerified: readBool(row.emailVerified),
    phoneNumber: row.phoneNumber,
    phoneVerified: readBool(row.phoneVerified),
    name: row.name,
    blockedAt: readDate(row.blockedAt),
  };
}

// On every code sent by email (known and unknown addresses alike).
export const FIND_USER_BY_EMAIL = sqlStatement<RawRow<UserModel, UserColumn>>(`SELECT ${columnList<UserModel>(Object.keys(fields) as UserColumn[])} FROM "User" WHERE "email" = ?`);

export async function findUserByEmail(db: Db, email: string): Promise<User | null> {
  const row = await db.sql.one(FIND_USER_BY_EMAIL, [email]);
  return row ? userOf(row) : null;
}

/** The id of the user of an email address: it rides along with a send's limits (storage/counter-chains.ts SEND_CHAIN). */
export const USER_ID_BY_EMAIL = sqlStatement<{ v: string }>('SELECT "id" AS v FROM "User" WHERE "email" = ?');

// On every SMS code sent and every code sign-in.
export const FIND_USER_BY_PHONE = sqlStatement<RawRow<UserModel, UserColumn>>(
  `SELECT ${columnList<UserModel>(Object.keys(fields) as UserColumn[])} FROM "User" WHERE "phoneNumber" = ?`,
);

export async function findUserByPhone(db: Db, phoneNumber: string): Promise<User | null> {
  const row = await db.sql.one(FIND_USER_BY_PHONE, [phoneNumber]);
  return row ? userOf(row) : null;
}

// Every code sign-in marks its user's address or number verified, making the user on a first
// sign-in: one upsert, so two first sign-ins of one identifier at once make one user (the second
// insert meets the first's row and updates it).
const RETURNING = `RETURNING ${columnList<UserModel>(Object.keys(fields) as UserColumn[])}`;
export const UPSERT_VERIFIED_EMAIL = sqlStatement<RawRow<UserModel, UserColumn>>(
  'INSERT INTO "User" ("id", "email", "emailVerified", "phoneVerified", "isAdmin", "createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?) ' +
    `ON CONFLICT ("email") DO UPDATE SET "emailVerified" = excluded."emailVerified", "updatedAt" = excluded."updatedAt" ${RETURNING}`,
);
export const UPSERT_VERIFIED_PHONE = sqlStatement<RawRow<UserModel, UserColumn>>(
  'INSERT INTO "User" ("id", "phoneNumber", "phoneVerified", "emailVerified", "isAdmin", "createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?) ' +
    `ON CONFLICT ("phoneNumber") DO UPDATE SET "phoneVerified" = excluded."phoneVerified", "updatedAt" = excluded."updatedAt" ${RETURNING}`,
);

/** The user owning a just-verified phone number (E.164): existing (marked verified) or new. */
export async function upsertVerifiedPhoneUser(db: Db, phoneNumber: string, now = new Date()): Promise<User> {
  return userOf((await db.sql.one(UPSERT_VERIFIED_PHONE, [randomUUID(), phoneNumber, true, false, false, now, now]))!);
}

/** The user owning a just-verified email: existing (marked verified) or new. */
export async function upsertVerifiedEmailUser(db: Db, email: string, now = new Date()): Promise<User> {
  return userOf((await db.sql.one(UPSERT_VERIFIED_EMAIL, [randomUUID(), email, true, false, false, now, now]))!);
}

/** Whether an account with this id exists. */
export async function userExists(db: Db, id: string): Promise<boolean> {
  return (await db.prisma.user.findUnique({ where: { id }, select: { id: true } })) !== null;
}

/** The newest accounts first, for the operator's `sesame users list`. */
export function listUsers(db: Db, take = 1000) {
  return db.prisma.user.findMany({ orderBy: { createdAt: 'desc' }, take, select: { id: true, email: true, emailVerified: true, createdAt: true } });
}

/** A new account of an external identity, unsaved: the caller runs it in one transaction with the identity. */
export function newExternalUser(db: Db, id: string, profile: { email?: string; name?: string }) {
  return db.prisma.user.create({ data: { id, name: profile.name ?? null, email: profile.email ?? null, emailVerified: profile.email !== undefined } });
}

/** Refreshes an account from its external identity's latest profile (only the name is taken). */
export async function refreshExternalUser(db: Db, id: string, profile: { name?: string }): Promise<void> {
  await db.prisma.user.update({ where: { id }, data: { ...(profile.name ? { name: profile.name } : {}) } });
}

// Asked at the end of every hosted sign-in that wants `profile`, and by the name page.
export const NEW_NAMELESS_USER = sqlStatement<{ id: string }>('SELECT "id" FROM "User" WHERE "id" = ? AND "name" IS NULL AND "createdAt" >= ?');

/** True for an account created at or after `since` that has no name yet (the sign-up name step). */
export async function isNewNamelessUser(db: Db, id: string, since: Date): Promise<boolean> {
  return (await db.sql.one(NEW_NAMELESS_USER, [id, since])) !== undefined;
}

/** Sets the name of an account that has none; false when it has one already (or is gone). */
export async function setNameIfUnset(db: Db, id: string, name: string): Promise<boolean> {
  return (await db.prisma.user.updateMany({ where: { id, name: null }, data: { name } })).count === 1;
}

/** Sets (or replaces, or with null clears) an account's name; false when there is no such account. */
export async function setName(db: Db, id: string, name: string | null): Promise<boolean> {
  return (await db.prisma.user.updateMany({ where: { id }, data: { name } })).count === 1;
}

/** The tenant a user belongs to when it is known only through that tenant's actions API, else null. */
export async function tenantOfUser(db: Db, id: string): Promise<string | null | undefined> {
  const row = await db.prisma.user.findUnique({ where: { id }, select: { tenantId: true } });
  return row ? row.tenantId : undefined;
}

// A track asks who its user is (action-users.ts) on every call: both candidate ids in one statement,
// and a tenant's user is made by one insert that two first tracks of one user can both run.
export const USER_TENANTS = sqlStatement<{ id: string; tenantId: string | null }>('SELECT "id", "tenantId" FROM "User" WHERE "id" IN (?, ?)');
export const INSERT_TENANT_USER = sqlStatement(
  'INSERT INTO "User" ("id", "tenantId", "emailVerified", "phoneVerified", "isAdmin", "createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?) ' + 'ON CONFLICT ("id") DO NOTHING',
);

/** The tenant marks of the users among `ids` (null: a Sesame user; absent: no such user). */
export async function tenantsOfUsers(db: Db, ids: [string, string]): Promise<Map<string, string | null>> {
  const rows = await db.sql.all(USER_TENANTS, ids);
  return new Map(rows.map((row) => [row.id, row.tenantId]));
}

/** Creates (or finds) a user known only through a tenant's actions API: no email or phone to sign in with. */
export async function ensureTenantUser(db: Db, id: string, tenantId: string, now = new Date()): Promise<void> {
  await db.sql.run(INSERT_TENANT_USER, [id, tenantId, false, false, false, now, now]);
}

/** Blocks (a date) or unblocks (null) an account; false when there is no such account. */
export async function setBlocked(db: Db, id: string, blockedAt: Date | null): Promise<boolean> {
  return (await db.prisma.user.updateMany({ where: { id }, data: { blockedAt } })).count === 1;
}

export interface UserSearch {
  email?: string;
  phoneNumber?: string;
  /** Part of an email, phone number or name, or a whole id. */
  q?: string;
  /** The last id of the previous page (ids ascending). */
  after?: string;
  limit: number;
}

/** A page of accounts for support's search, by id ascending so a cursor is the last id seen. */
export function searchUsers(db: Db, search: UserSearch) {
  const { email, phoneNumber, q, after, limit } = search;
  // Emails are stored lower-cased, so a part of one is matched lower-cased on both engines alike.
  const where = {
    ...(email !== undefined && { email }),
    ...(phoneNumber !== undefined && { phoneNumber }),
    ...(q !== undefined && { OR: [{ id: q }, { email: { contains: q.toLowerCase() } }, { phoneNumber: { contains: q } }, { name: { contains: q } }] }),
    ...(after !== undefined && { id: { gt: after } }),
  };
  return db.prisma.user.findMany({ where, orderBy: { id: 'asc' }, take: limit, select: { ...fields, createdAt: true, updatedAt: true } });
}

/** One account with its dates, for support. */
export function findUserRecord(db: Db, id: string) {
  return db.prisma.user.findUnique({ where: { id }, select: { ...fields, createdAt: true, updatedAt: true } });
}

/** Whether the user may use the admin console (read on every console request: a revocation counts at once). */
export async function isAdmin(db: Db, id: string): Promise<boolean> {
  return (await db.prisma.user.findUnique({ where: { id }, select: { isAdmin: true } }))?.isAdmin === true;
}

/** Grants or revokes the admin role; false when no such user. Audited by the caller. */
export async function setAdmin(db: Db, id: string, admin: boolean): Promise<boolean> {
  const { count } = await db.prisma.user.updateMany({ where: { id }, data: { isAdmin: admin } });
  return count === 1;
}
