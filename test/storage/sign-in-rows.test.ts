// The rows every hosted sign-in by email writes and reads through hand-written statements (sql.ts):
// the account of a verified address, made once even by parallel first sign-ins, and a sign-in's
// login links, a new one revoking the earlier ones. On both engines.
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { findApproval, findLink, findLiveFlowLink, insertLink, consumeLink } from '../../src/storage/magic-links.js';
import { findUserByEmail, isNewNamelessUser, setNameIfUnset, upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

const link = (id: string, flowKey: string | null, expiresAt: Date) => ({
  id,
  tokenHash: `hash-${id}`,
  keyId: 'k1',
  type: 'login',
  email: 'ada@example.com',
  clientId: 'app',
  flowKey,
  matchNumber: '42',
  requestIp: '203.0.113.9',
  requestFrom: 'Firefox on Linux',
  expiresAt,
});

describe.each(ENGINES)('sign-in rows on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => (db = opened));

  it('makes one account for parallel first sign-ins of one address, and marks an existing one verified', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, () => upsertVerifiedEmailUser(db, 'race@example.com')));
    expect(new Set(users.map((u) => u.id)).size).toBe(1);
    expect(users[0]).toEqual({ id: users[0]!.id, email: 'race@example.com', emailVerified: true, phoneNumber: null, phoneVerified: false, name: null, blockedAt: null });
    expect(await db.prisma.user.count({ where: { email: 'race@example.com' } })).toBe(1);

    await db.prisma.user.create({ data: { id: 'unverified', email: 'later@example.com', emailVerified: false, name: 'Later' } });
    expect(await upsertVerifiedEmailUser(db, 'later@example.com')).toEqual({
      id: 'unverified',
      email: 'later@example.com',
      emailVerified: true,
      phoneNumber: null,
      phoneVerified: false,
      name: 'Later',
      blockedAt: null,
    });
    expect(await findUserByEmail(db, 'later@example.com')).toMatchObject({ id: 'unverified', emailVerified: true });
  });

  it('tells a new account without a name from an older or named one', async () => {
    const before = new Date(Date.now() - 60_000);
    const user = await upsertVerifiedEmailUser(db, 'new@example.com');
    expect(await isNewNamelessUser(db, user.id, before)).toBe(true);
    // Created before the sign-in started: not new.
    expect(await isNewNamelessUser(db, user.id, new Date(Date.now() + 60_000))).toBe(false);
    expect(await setNameIfUnset(db, user.id, 'Ada')).toBe(true);
    expect(await isNewNamelessUser(db, user.id, before)).toBe(false);
    expect(await isNewNamelessUser(db, 'nobody', before)).toBe(false);
  });

  it("keeps one live login link per sign-in: a new one revokes the earlier, other sign-ins' links stay", async () => {
    const now = new Date();
    const later = new Date(now.getTime() + 600_000);
    await insertLink(db, link('first', 'flow-a', later), now);
    await insertLink(db, link('other', 'flow-b', later), now);
    await insertLink(db, link('second', 'flow-a', later), new Date(now.getTime() + 1));
    await insertLink(db, link('unbound', null, later), now);
    expect(await findLiveFlowLink(db, 'flow-a')).toEqual({
      ...link('second', 'flow-a', later),
      createdAt: new Date(now.getTime() + 1),
      attempts: 0,
      consumedAt: null,
      revokedAt: null,
      userId: null,
    });
    expect((await findLink(db, 'first'))?.revokedAt).toEqual(new Date(now.getTime() + 1));
    expect((await findLiveFlowLink(db, 'flow-b'))?.id).toBe('other');
    expect((await findLink(db, 'unbound'))?.revokedAt).toBeNull();
    // An expired link is not live.
    await insertLink(db, link('stale', 'flow-c', new Date(now.getTime() - 1000)), now);
    expect(await findLiveFlowLink(db, 'flow-c')).toBeNull();
  });

  it('finds an approval only once the link is used, until it is redeemed', async () => {
    const now = new Date();
    await insertLink(db, link('approve', 'flow-d', new Date(now.getTime() + 600_000)), now);
    expect(await findApproval(db, 'flow-d')).toBeNull();
    expect(await consumeLink(db, 'approve', 'user-1', now)).toBe(true);
    expect(await findApproval(db, 'flow-d')).toMatchObject({ id: 'approve', userId: 'user-1', consumedAt: now });
    await db.prisma.magicLink.update({ where: { id: 'approve' }, data: { redeemedAt: now } });
    expect(await findApproval(db, 'flow-d')).toBeNull();
  });
});
