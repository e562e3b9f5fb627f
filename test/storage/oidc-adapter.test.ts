// Contract of the oidc-provider storage adapter, run identically on SQLite and PostgreSQL.
import type { AdapterPayload } from 'oidc-provider';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { insertClient } from '../../src/storage/clients.js';
import type { Db } from '../../src/storage/db.js';
import { createAdapterClass, prefetchedUser, sweepOidcPayloads, withDeferredTokenWrites } from '../../src/storage/oidc-adapter.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

let n = 0;
const uniq = (prefix: string) => `${prefix}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

// Only Date is faked: timers and I/O run for real, so the drivers are unaffected.
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const at = (ms: number) => vi.setSystemTime(new Date(ms));

describe.each(ENGINES)('oidc adapter on %s', (engine) => {
  let db: Db;
  let Adapter: ReturnType<typeof createAdapterClass>;
  withMigratedDb(engine, (opened) => {
    db = opened;
    Adapter = createAdapterClass(db);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const countRows = (where: { model?: string; grantId?: string } = {}) => db.prisma.oidcPayload.count({ where });

  it('returns exactly the payload that was upserted, and overwrites it on the next upsert', async () => {
    const tokens = new Adapter('AccessToken');
    const id = uniq('at');
    const payload: AdapterPayload = {
      accountId: 'user-1',
      clientId: 'client-1',
      grantId: uniq('grant'),
      scope: 'openid email',
      claims: { id_token: { email: null } },
      extra: { nested: [1, 'two', { three: true }] },
      iat: 1_700_000_000,
      exp: 1_700_003_600,
      kind: 'AccessToken',
      jti: id,
    };
    await tokens.upsert(id, payload, 3600);
    expect(await tokens.find(id)).toEqual(payload);

    const replacement: AdapterPayload = { accountId: 'user-2', kind: 'AccessToken', jti: id };
    await tokens.upsert(id, replacement, 3600);
    expect(await tokens.find(id)).toEqual(replacement);
    expect(await db.prisma.oidcPayload.count({ where: { id } })).toBe(1);
    // The indexed grantId column follows the new payload too: revoking the old grant leaves it alone.
    await tokens.revokeByGrantId(payload.grantId!);
    expect(await tokens.find(id)).toEqual(replacement);
  });

  it('keeps models apart even when they share an id', async () => {
    const id = uniq('shared');
    await new Adapter('AccessToken').upsert(id, { kind: 'AccessToken', accountId: 'a' }, 60);
    await new Adapter('RefreshToken').upsert(id, { kind: 'RefreshToken', accountId: 'b' }, 60);
    expect(await new Adapter('AccessToken').find(id)).toEqual({ kind: 'AccessToken', accountId: 'a' });
    expect(await new Adapter('RefreshToken').find(id)).toEqual({ kind: 'RefreshToken', accountId: 'b' });
    expect(await new Adapter('AuthorizationCode').find(id)).toBeUndefined();

    await new Adapter('AccessToken').destroy(id);
    expect(await new Adapter('AccessToken').find(id)).toBeUndefined();
    expect(await new Adapter('RefreshToken').find(id)).toEqual({ kind: 'RefreshToken', accountId: 'b' });
  });

  it('hides a row once its expiresIn has passed, and never expires for 0 or undefined', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const sessions = new Adapter('Session');
    const [short, zero, none] = [uniq('s'), uniq('s'), uniq('s')];
    await sessions.upsert(short, { kind: 'Session', uid: uniq('uid') }, 60);
    await sessions.upsert(zero, { kind: 'Session' }, 0);
    await sessions.upsert(none, { kind: 'Session' }, undefined as unknown as number);

    at(T0 + 59_000);
    expect(await sessions.find(short)).toEqual(expect.objectContaining({ kind: 'Session' }));
    at(T0 + 60_000);
    expect(await sessions.find(short)).toBeUndefined();

    at(T0 + 10 * 365 * 86400_000);
    expect(await sessions.find(zero)).toEqual({ kind: 'Session' });
    expect(await sessions.find(none)).toEqual({ kind: 'Session' });
    const rows = await db.prisma.oidcPayload.findMany({ where: { id: { in: [zero, none] } }, select: { expiresAt: true } });
    expect(rows).toEqual([{ expiresAt: null }, { expiresAt: null }]);
  });

  it('consume stamps epoch seconds once and says so; a second consume keeps the first stamp and says false', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 + 1234 });
    const codes = new Adapter('AuthorizationCode');
    const id = uniq('code');
    await codes.upsert(id, { kind: 'AuthorizationCode', accountId: 'u' }, 600);
    expect(await codes.consume(id)).toBe(true);
    expect(await codes.find(id)).toEqual({ kind: 'AuthorizationCode', accountId: 'u', consumed: Math.floor((T0 + 1234) / 1000) });

    at(T0 + 120_000);
    expect(await codes.consume(id)).toBe(false);
    expect(await codes.find(id)).toEqual({ kind: 'AuthorizationCode', accountId: 'u', consumed: Math.floor((T0 + 1234) / 1000) });
  });

  it('20 parallel consumes all resolve, exactly one of them true, and leave one timestamp', async () => {
    const codes = new Adapter('AuthorizationCode');
    const id = uniq('code');
    await codes.upsert(id, { kind: 'AuthorizationCode' }, 600);
    const before = Math.floor(Date.now() / 1000);
    const results = await Promise.all(Array.from({ length: 20 }, () => codes.consume(id)));
    expect(results.filter(Boolean)).toEqual([true]);
    const found = await codes.find(id);
    expect(found).toEqual({ kind: 'AuthorizationCode', consumed: expect.any(Number) });
    expect(found!.consumed).toBeGreaterThanOrEqual(before);
    expect(found!.consumed).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(await db.prisma.oidcPayload.count({ where: { id, consumedAt: { not: null } } })).toBe(1);
  });

  it('destroy removes the row, and find of an unknown id is undefined', async () => {
    const grants = new Adapter('Grant');
    const id = uniq('grant');
    await grants.upsert(id, { kind: 'Grant', accountId: 'u' }, 600);
    await grants.destroy(id);
    expect(await grants.find(id)).toBeUndefined();
    expect(await grants.find(uniq('never-stored'))).toBeUndefined();
    await expect(grants.destroy(uniq('never-stored'))).resolves.toBeUndefined();
  });

  it('revokeByGrantId deletes every model of that grant and nothing else', async () => {
    const grantId = uniq('grant');
    const otherGrant = uniq('grant');
    const ids = { at: uniq('at'), rt: uniq('rt'), code: uniq('code'), other: uniq('at'), loose: uniq('at') };
    await new Adapter('AccessToken').upsert(ids.at, { kind: 'AccessToken', grantId }, 600);
    await new Adapter('RefreshToken').upsert(ids.rt, { kind: 'RefreshToken', grantId }, 600);
    await new Adapter('AuthorizationCode').upsert(ids.code, { kind: 'AuthorizationCode', grantId }, 600);
    await new Adapter('AccessToken').upsert(ids.other, { kind: 'AccessToken', grantId: otherGrant }, 600);
    await new Adapter('AccessToken').upsert(ids.loose, { kind: 'AccessToken' }, 600);
    const total = await countRows();

    await new Adapter('AccessToken').revokeByGrantId(grantId);
    expect(await new Adapter('AccessToken').find(ids.at)).toBeUndefined();
    expect(await new Adapter('RefreshToken').find(ids.rt)).toBeUndefined();
    expect(await new Adapter('AuthorizationCode').find(ids.code)).toBeUndefined();
    expect(await new Adapter('AccessToken').find(ids.other)).toEqual({ kind: 'AccessToken', grantId: otherGrant });
    expect(await new Adapter('AccessToken').find(ids.loose)).toEqual({ kind: 'AccessToken' });
    expect(await countRows()).toBe(total - 3);
  });

  it('findByUid finds a Session and findByUserCode a DeviceCode, within their model only', async () => {
    const uid = uniq('uid');
    const userCode = uniq('UC');
    await new Adapter('Session').upsert(uniq('sess'), { kind: 'Session', uid, accountId: 'u1' }, 600);
    await new Adapter('DeviceCode').upsert(uniq('dc'), { kind: 'DeviceCode', userCode, clientId: 'tv' }, 600);

    expect(await new Adapter('Session').findByUid(uid)).toEqual({ kind: 'Session', uid, accountId: 'u1' });
    expect(await new Adapter('DeviceCode').findByUserCode(userCode)).toEqual({ kind: 'DeviceCode', userCode, clientId: 'tv' });
    expect(await new Adapter('Session').findByUid(uniq('uid'))).toBeUndefined();
    expect(await new Adapter('DeviceCode').findByUserCode(uniq('UC'))).toBeUndefined();
    expect(await new Adapter('Interaction').findByUid(uid)).toBeUndefined();
    expect(await new Adapter('Session').findByUserCode(userCode)).toBeUndefined();
  });

  it("keeps a Session's and a Grant's account in its own column (found by index), and no other model's", async () => {
    const accountId = uniq('user');
    const session = uniq('sess');
    const grant = uniq('grant');
    await new Adapter('Session').upsert(session, { kind: 'Session', uid: uniq('uid'), accountId }, 600);
    await new Adapter('Grant').upsert(grant, { kind: 'Grant', accountId }, 600);
    await new Adapter('AccessToken').upsert(uniq('at'), { kind: 'AccessToken', accountId, grantId: grant }, 600);
    const rows = await db.prisma.oidcPayload.findMany({ where: { accountId }, select: { model: true, id: true }, orderBy: { model: 'asc' } });
    expect(rows).toEqual([
      { model: 'Grant', id: grant },
      { model: 'Session', id: session },
    ]);
  });

  it('model Client reads clients stored with insertClient', async () => {
    const clientId = uniq('client');
    const metadata = { client_id: clientId, redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' };
    expect(await insertClient(db, clientId, metadata)).toBe(true);
    const clients = new Adapter('Client');
    expect(await clients.find(clientId)).toEqual(metadata);
    expect(await clients.find(uniq('client'))).toBeUndefined();
  });

  it('writes times that Prisma reads back as the same instants (the hand-written SQL and Prisma share rows)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const tokens = new Adapter('RefreshToken');
    const id = uniq('rt');
    await tokens.upsert(id, { kind: 'RefreshToken', grantId: 'g-1' }, 90);
    at(T0 + 5_000);
    await tokens.consume(id);
    const row = await db.prisma.oidcPayload.findUnique({ where: { model_id: { model: 'RefreshToken', id } } });
    expect(row).toEqual({
      model: 'RefreshToken',
      id,
      payload: JSON.stringify({ kind: 'RefreshToken', grantId: 'g-1' }),
      grantId: 'g-1',
      userCode: null,
      uid: null,
      expiresAt: new Date(T0 + 90_000),
      consumedAt: new Date(T0 + 5_000),
      accountId: null,
    });
    expect(await tokens.find(id)).toEqual({ kind: 'RefreshToken', grantId: 'g-1', consumed: T0 / 1000 + 5 });
  });

  describe('within one request', () => {
    // The request in progress, as oidc-provider's Provider.ctx gives it: each test swaps in a new one.
    let request: object | undefined;
    let InRequest: ReturnType<typeof createAdapterClass>;
    const userId = uniq('user');

    /** A user, a session, its grant and an access token bound to both, as a sign-in leaves them. */
    async function signedIn() {
      await db.prisma.user.upsert({ where: { id: userId }, create: { id: userId, email: `${userId}@example.com`, emailVerified: true }, update: {} });
      const [sessionId, sessionUid, grantId, tokenId] = [uniq('sess'), uniq('uid'), uniq('grant'), uniq('at')];
      await new Adapter('Session').upsert(sessionId, { uid: sessionUid, accountId: userId, kind: 'Session' }, 600);
      await new Adapter('Grant').upsert(grantId, { accountId: userId, clientId: 'app', kind: 'Grant' }, 600);
      await new Adapter('AccessToken').upsert(tokenId, { accountId: userId, clientId: 'app', grantId, sessionUid, expiresWithSession: true, kind: 'AccessToken' }, 600);
      return { sessionId, sessionUid, grantId, tokenId };
    }
    const user = { id: userId, email: `${userId}@example.com`, emailVerified: true, phoneNumber: null, phoneVerified: false, name: null, blockedAt: null };

    it('reads a token with its session, grant and user once, and serves them to that request only', async () => {
      InRequest = createAdapterClass(db, () => request);
      const { sessionId, sessionUid, grantId, tokenId } = await signedIn();
      request = {};
      expect(await new InRequest('AccessToken').find(tokenId)).toMatchObject({ grantId, sessionUid });
      expect(prefetchedUser(request, userId)).toEqual(user);
      // Gone from the database after the read: this request still sees its snapshot...
      await db.prisma.oidcPayload.deleteMany({ where: { id: { in: [sessionId, grantId] } } });
      expect(await new InRequest('Session').findByUid(sessionUid)).toEqual({ uid: sessionUid, accountId: userId, kind: 'Session' });
      expect(await new InRequest('Grant').find(grantId)).toEqual({ accountId: userId, clientId: 'app', kind: 'Grant' });
      // ...and the next request reads them afresh, so finds them gone.
      request = {};
      expect(prefetchedUser(request, userId)).toBeUndefined();
      expect(await new InRequest('Session').findByUid(sessionUid)).toBeUndefined();
      expect(await new InRequest('Grant').find(grantId)).toBeUndefined();
      expect(await new InRequest('AccessToken').find(tokenId)).toMatchObject({ grantId, sessionUid });
      expect([await new InRequest('Session').findByUid(sessionUid), await new InRequest('Grant').find(grantId), prefetchedUser(request, userId)]).toEqual([
        undefined,
        undefined,
        undefined,
      ]);
    });

    it("answers every token model of the id from one read, and forgets it all at the request's first write", async () => {
      InRequest = createAdapterClass(db, () => request);
      const { tokenId, grantId } = await signedIn();
      request = {};
      const [access, credentials, refresh] = await Promise.all(['AccessToken', 'ClientCredentials', 'RefreshToken'].map((model) => new InRequest(model).find(tokenId)));
      expect([access?.kind, credentials, refresh]).toEqual(['AccessToken', undefined, undefined]);
      await db.prisma.oidcPayload.deleteMany({ where: { id: grantId } });
      expect(await new InRequest('Grant').find(grantId)).toEqual({ accountId: userId, clientId: 'app', kind: 'Grant' });
      await new InRequest('AccessToken').consume(tokenId);
      expect(await new InRequest('Grant').find(grantId)).toBeUndefined();
      expect((await new InRequest('AccessToken').find(tokenId))?.consumed).toEqual(expect.any(Number));
    });

    it('sees an expired session or grant read along as expired, and a missing user as missing', async () => {
      InRequest = createAdapterClass(db, () => request);
      const { sessionUid, grantId, tokenId } = await signedIn();
      await db.prisma.oidcPayload.updateMany({ where: { id: grantId }, data: { accountId: 'no-such-user' } });
      await db.prisma.oidcPayload.updateMany({ where: { model: 'Session', uid: sessionUid }, data: { expiresAt: new Date(Date.now() - 1000) } });
      request = {};
      expect(await new InRequest('AccessToken').find(tokenId)).toMatchObject({ grantId });
      expect(prefetchedUser(request, 'no-such-user')).toBeNull();
      expect(await new InRequest('Session').findByUid(sessionUid)).toBeUndefined();
    });

    it('holds back the access and refresh tokens a request saves until it ends, and writes none when it throws', async () => {
      InRequest = createAdapterClass(db, () => request);
      const [at, rt, session] = [uniq('at'), uniq('rt'), uniq('sess')];
      const inDb = async () => (await db.prisma.oidcPayload.findMany({ where: { id: { in: [at, rt, session] } }, select: { id: true } })).map((r) => r.id).sort();
      request = {};
      await withDeferredTokenWrites(db, request, async () => {
        await new InRequest('RefreshToken').upsert(rt, { kind: 'RefreshToken', accountId: 'a' }, 600);
        await new InRequest('AccessToken').upsert(at, { kind: 'AccessToken', accountId: 'a' }, 600);
        await new InRequest('Session').upsert(session, { kind: 'Session', uid: uniq('uid') }, 600);
        // Only the session is written yet; the request itself sees its tokens.
        expect(await inDb()).toEqual([session]);
        expect(await new InRequest('AccessToken').find(at)).toEqual({ kind: 'AccessToken', accountId: 'a' });
      });
      expect(await inDb()).toEqual([at, rt, session].sort());

      const [kept, dropped] = [uniq('rt'), uniq('at')];
      request = {};
      const failed = withDeferredTokenWrites(db, request, async () => {
        await new InRequest('RefreshToken').upsert(kept, { kind: 'RefreshToken', accountId: 'a' }, 600);
        // A later write of the request (here a consume) writes what it held back first, in order.
        expect(await new InRequest('RefreshToken').consume(kept)).toBe(true);
        await new InRequest('AccessToken').upsert(dropped, { kind: 'AccessToken', accountId: 'a' }, 600);
        throw new Error('the request failed');
      });
      await expect(failed).rejects.toThrow('the request failed');
      expect((await db.prisma.oidcPayload.findMany({ where: { id: { in: [kept, dropped] } }, select: { id: true } })).map((r) => r.id)).toEqual([kept]);
    });

    it('reads each find on its own outside a request', async () => {
      InRequest = createAdapterClass(db, () => request);
      const { grantId, tokenId } = await signedIn();
      request = undefined;
      expect(await new InRequest('AccessToken').find(tokenId)).toMatchObject({ grantId });
      await db.prisma.oidcPayload.deleteMany({ where: { id: grantId } });
      expect(await new InRequest('Grant').find(grantId)).toBeUndefined();
    });
  });

  it('sweepOidcPayloads deletes only expired rows and returns the count', async () => {
    await db.prisma.oidcPayload.deleteMany();
    vi.useFakeTimers({ toFake: ['Date'], now: T0 });
    const tokens = new Adapter('AccessToken');
    const [gone1, gone2, edge, live, forever] = [uniq('a'), uniq('a'), uniq('a'), uniq('a'), uniq('a')];
    await tokens.upsert(gone1, { kind: 'AccessToken' }, 10);
    await tokens.upsert(gone2, { kind: 'AccessToken' }, 20);
    await tokens.upsert(edge, { kind: 'AccessToken' }, 30);
    await tokens.upsert(live, { kind: 'AccessToken' }, 31);
    await tokens.upsert(forever, { kind: 'AccessToken' }, 0);

    expect(await sweepOidcPayloads(db, new Date(T0 + 30_000))).toBe(3);
    const left = await db.prisma.oidcPayload.findMany({ select: { id: true } });
    expect(left.map((r) => r.id).sort()).toEqual([live, forever].sort());
    expect(await sweepOidcPayloads(db, new Date(T0 + 30_000))).toBe(0);
  });
});
