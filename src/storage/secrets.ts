// Generated secrets kept in the database so every instance and every restart agrees on them.
import { randomBytes } from 'node:crypto';
import type { Db } from './db.js';

/** Returns the stored list for `name`, creating it (one random key) on first use. */
export async function ensureSecretList(db: Db, name: string): Promise<string[]> {
  const found = await db.prisma.secret.findUnique({ where: { name } });
  if (found) return JSON.parse(found.value) as string[];
  const value = JSON.stringify([randomBytes(32).toString('base64url')]);
  // Two instances may start at once: whoever inserts first wins and both read the winner.
  await db.prisma.secret.createMany({ data: [{ name, value }] }).catch(() => undefined);
  const stored = await db.prisma.secret.findUniqueOrThrow({ where: { name } });
  return JSON.parse(stored.value) as string[];
}
