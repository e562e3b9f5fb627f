// Users: created on their first verified sign-in (under the sign-up policy).
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';

export interface User {
  id: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
}

const fields = { id: true, email: true, emailVerified: true, name: true } as const;

export function findUserById(db: Db, id: string): Promise<User | null> {
  return db.prisma.user.findUnique({ where: { id }, select: fields });
}

export function findUserByEmail(db: Db, email: string): Promise<User | null> {
  return db.prisma.user.findUnique({ where: { email }, select: fields });
}

/** The user owning a just-verified email: existing (marked verified) or new. */
export async function upsertVerifiedEmailUser(db: Db, email: string): Promise<User> {
  const upsert = () =>
    db.prisma.user.upsert({
      where: { email },
      create: { id: randomUUID(), email, emailVerified: true },
      update: { emailVerified: true },
      select: fields,
    });
  try {
    return await upsert();
  } catch (err) {
    // Two first sign-ins of one address at once: the loser's insert collides; the row exists now.
    if ((err as { code?: string }).code !== 'P2002') throw err;
    return upsert();
  }
}
