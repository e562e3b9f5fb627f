// The user upserts of a code sign-in, on SQLite and PostgreSQL: parallel first sign-ins of one new
// address or number make one user, and each marks an existing user's identifier verified.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser } from '../../src/storage/users.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

describe.each(ENGINES)('verified-identifier upserts on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => (db = opened));

  it('make one user for 10 parallel first sign-ins of a new address, and return it to all', async () => {
    const email = `new-${randomUUID()}@example.com`;
    const users = await Promise.all(Array.from({ length: 10 }, () => upsertVerifiedEmailUser(db, email)));
    const rows = await db.prisma.user.findMany({ where: { email }, select: { id: true, email: true, emailVerified: true, phoneNumber: true, isAdmin: true } });
    expect(rows).toEqual([{ id: expect.any(String), email, emailVerified: true, phoneNumber: null, isAdmin: false }]);
    expect(users).toEqual(Array(10).fill({ id: rows[0]!.id, email, emailVerified: true, phoneNumber: null, phoneVerified: false, name: null, blockedAt: null }));
  });

  it('make one user for 10 parallel first sign-ins of a new number', async () => {
    const phone = `+3361${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
    const users = await Promise.all(Array.from({ length: 10 }, () => upsertVerifiedPhoneUser(db, phone)));
    const rows = await db.prisma.user.findMany({ where: { phoneNumber: phone }, select: { id: true } });
    expect(rows).toHaveLength(1);
    expect(users).toEqual(Array(10).fill({ id: rows[0]!.id, email: null, emailVerified: false, phoneNumber: phone, phoneVerified: true, name: null, blockedAt: null }));
  });

  it("marks an existing user's address verified, keeping the rest of the user", async () => {
    const email = `known-${randomUUID()}@example.com`;
    const created = await db.prisma.user.create({ data: { id: randomUUID(), email, name: 'Ada', emailVerified: false, createdAt: new Date('2030-01-01T00:00:00Z') } });
    const later = new Date('2030-02-01T00:00:00Z');
    expect(await upsertVerifiedEmailUser(db, email, later)).toEqual({
      id: created.id,
      email,
      emailVerified: true,
      phoneNumber: null,
      phoneVerified: false,
      name: 'Ada',
      blockedAt: null,
    });
    expect(await db.prisma.user.findUniqueOrThrow({ where: { id: created.id }, select: { createdAt: true, updatedAt: true } })).toEqual({
      createdAt: new Date('2030-01-01T00:00:00Z'),
      updatedAt: later,
    });
  });
});
