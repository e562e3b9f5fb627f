// A refresh's consume held back and written with its new tokens (storage/oidc-adapter.ts
// withHeldConsume): on PostgreSQL one statement, the tokens written only if its consume won. Run
// on both engines: SQLite consumes at once, and the outcome must be the same. And a sign-in's
// session, grant and code held back (withDeferredTokenWrites with SIGN_IN_WRITES) until they go
// out together, the request itself seeing them, its consumes and deletes in order. And the consumes
// of parallel refreshes, on PostgreSQL one statement for those that waited (payload-writes.ts).
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { ConsumeLost, createAdapterClass, SIGN_IN_WRITES, withDeferredTokenWrites, withHeldConsume } from '../../src/storage/oidc-adapter.js';
import { consumeAndUpsert, consumeTogether } from '../../src/storage/payload-writes.js';
import { waitFor } from '../helpers/wait.js';
import type { Param } from '../../src/storage/sql.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';
import { takePgStatements } from '../helpers/pg-statements.js';

let n = 0;
const uniq = (prefix: string) => `${prefix}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

describe.each(ENGINES)('held consume on %s', (engine) => {
  let db: Db;
  let Adapter: ReturnType<typeof createAdapterClass>;
  // The request in progress, as oidc-provider's Provider.ctx gives it: each test swaps in a new one.
  let request: object | undefined;
  let InRequest: ReturnType<typeof createAdapterClass>;
  withMigratedDb(engine, (opened) => {
    db = opened;
    Adapter = createAdapterClass(db);
    InRequest = createAdapterClass(db, () => request);
  });

  it("writes a rotation's new tokens only with the consume that won, of two at once", async () => {
    const old = uniq('rt');
    await new Adapter('RefreshToken').upsert(old, { kind: 'RefreshToken', accountId: 'a' }, 600);
    const rows = async (ids: string[]) =>
      (await db.prisma.oidcPayload.findMany({ where: { id: { in: ids } }, select: { id: true, consumedAt: true } })).map((r) => ({ id: r.id, consumed: r.consumedAt !== null }));
    /** One request rotating `old`: consume, then the new refresh and access tokens (oidc-provider's order). */
    const rotate = (fresh: string[]) => {
      const request = {};
      const InRequest = createAdapterClass(db, () => request);
      return withDeferredTokenWrites(db, request, () =>
        withHeldConsume(db, request, async () => {
          // SQLite consumes at once and says so; PostgreSQL holds it and throws ConsumeLost when it writes it.
          if (!(await new InRequest('RefreshToken').consume(old))) throw new ConsumeLost('RefreshToken', old);
          await new InRequest('RefreshToken').upsert(fresh[0]!, { kind: 'RefreshToken', accountId: 'a' }, 600);
          await new InRequest('AccessToken').upsert(fresh[1]!, { kind: 'AccessToken', accountId: 'a' }, 600);
        }),
      );
    };
    const sides = [
      [uniq('rt'), uniq('at')],
      [uniq('rt'), uniq('at')],
    ];
    const settled = await Promise.allSettled(sides.map(rotate));
    expect(settled.map((s) => s.status).sort()).toEqual(['fulfilled', 'rejected']);
    const loser = settled.findIndex((s) => s.status === 'rejected');
    expect((settled[loser] as PromiseRejectedResult).reason).toEqual(new ConsumeLost('RefreshToken', old));
    const winner = sides[1 - loser]!;
    expect((await rows([old, ...sides.flat()])).sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      [
        { id: old, consumed: true },
        { id: winner[0]!, consumed: false },
        { id: winner[1]!, consumed: false },
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );

    // Used already: the next rotation writes nothing either.
    const late = [uniq('rt'), uniq('at')];
    await expect(rotate(late)).rejects.toEqual(new ConsumeLost('RefreshToken', old));
    expect(await rows(late)).toEqual([]);
  });

  it("holds back a sign-in's grant, code and session, shows them to the request itself, and keeps the session and grant when it throws", async () => {
    const [grant, code, session, uid] = [uniq('grant'), uniq('code'), uniq('sess'), uniq('uid')];
    const inDb = async () => (await db.prisma.oidcPayload.findMany({ where: { id: { in: [grant, code, session] } }, select: { id: true } })).map((r) => r.id).sort();
    /** A resume's writes, in oidc-provider's order. */
    const signIn = async () => {
      await new InRequest('Grant').upsert(grant, { kind: 'Grant', accountId: 'a' }, 600);
      await new InRequest('AuthorizationCode').upsert(code, { kind: 'AuthorizationCode', grantId: grant }, 600);
      await new InRequest('Session').upsert(session, { kind: 'Session', uid, accountId: 'a' }, 600);
    };
    request = {};
    await withDeferredTokenWrites(
      db,
      request,
      async () => {
        await signIn();
        expect(await inDb()).toEqual([]);
        expect(await new InRequest('Grant').find(grant)).toEqual({ kind: 'Grant', accountId: 'a' });
        expect(await new InRequest('AuthorizationCode').find(code)).toEqual({ kind: 'AuthorizationCode', grantId: grant });
        expect(await new InRequest('Session').find(session)).toEqual({ kind: 'Session', uid, accountId: 'a' });
        expect(await new InRequest('Session').findByUid(uid)).toEqual({ kind: 'Session', uid, accountId: 'a' });
      },
      SIGN_IN_WRITES,
    );
    expect(await inDb()).toEqual([grant, code, session].sort());
    const rows = await db.prisma.oidcPayload.findMany({ where: { id: { in: [grant, session] } }, select: { id: true, accountId: true, uid: true } });
    expect(rows.sort((a, b) => a.id.localeCompare(b.id))).toEqual(
      [
        { id: grant, accountId: 'a', uid: null },
        { id: session, accountId: 'a', uid },
      ].sort((a, b) => a.id.localeCompare(b.id)),
    );

    await db.prisma.oidcPayload.deleteMany({ where: { id: { in: [grant, code, session] } } });
    request = {};
    const failed = withDeferredTokenWrites(
      db,
      request,
      async () => {
        await signIn();
        throw new Error('the request failed');
      },
      SIGN_IN_WRITES,
    );
    await expect(failed).rejects.toThrow('the request failed');
    // The code never reached the client; the session (oidc-provider saves it even then) and its grant stay.
    expect(await inDb()).toEqual([grant, session].sort());
  });

  it('writes a held row before its own consume or destroy, and deletes another row without writing what is held', async () => {
    const [old, replacement, code, gone] = [uniq('sess'), uniq('sess'), uniq('code'), uniq('grant')];
    await new Adapter('Session').upsert(old, { kind: 'Session', accountId: 'a' }, 600);
    const inDb = async () => (await db.prisma.oidcPayload.findMany({ where: { id: { in: [old, replacement, code, gone] } }, select: { id: true } })).map((r) => r.id).sort();
    request = {};
    await withDeferredTokenWrites(
      db,
      request,
      async () => {
        await new InRequest('Session').upsert(replacement, { kind: 'Session', accountId: 'a' }, 600);
        // A resume's delete of the session it replaces leaves the new one held.
        await new InRequest('Session').destroy(old);
        expect(await inDb()).toEqual([]);
        await new InRequest('AuthorizationCode').upsert(code, { kind: 'AuthorizationCode' }, 600);
        expect(await new InRequest('AuthorizationCode').consume(code)).toBe(true);
        expect(await new InRequest('AuthorizationCode').consume(code)).toBe(false);
        expect(await new InRequest('AuthorizationCode').find(code)).toEqual({ kind: 'AuthorizationCode', consumed: expect.any(Number) });
        await new InRequest('Grant').upsert(gone, { kind: 'Grant' }, 600);
        await new InRequest('Grant').destroy(gone);
        expect(await new InRequest('Grant').find(gone)).toBeUndefined();
      },
      SIGN_IN_WRITES,
    );
    expect(await inDb()).toEqual([replacement, code].sort());
  });

  it("consumes parallel refreshes' tokens, each writing its own rows only if it won; of three with one token exactly one", async () => {
    const olds = [uniq('rt'), uniq('rt'), uniq('rt'), uniq('rt')];
    for (const old of olds) await new Adapter('RefreshToken').upsert(old, { kind: 'RefreshToken', accountId: 'a' }, 600);
    // Six refreshes in one turn of the event loop; the fifth and sixth present the third's token again.
    const presented = [...olds, olds[2]!, olds[2]!];
    const written = presented.map(() => [uniq('rt'), uniq('at')] as const);
    const expires = new Date(Date.now() + 600_000);
    const row = (model: string, id: string): Param[] => [
      model,
      id,
      JSON.stringify({ kind: model, accountId: 'a', note: 'it\'s "quoted" \\ {x,y}' }),
      null,
      null,
      null,
      expires,
      null,
    ];
    takePgStatements();
    const won = await Promise.all(
      presented.map((old, i) => consumeAndUpsert(db, [new Date(), 'RefreshToken', old], [row('RefreshToken', written[i]![0]), row('AccessToken', written[i]![1])])),
    );
    // Two went out alone; the four that waited, in one statement.
    if (engine === 'postgresql') expect(takePgStatements().filter((text) => text.includes('AS k(req'))).toHaveLength(3);
    expect([won[0], won[1], won[3]]).toEqual([true, true, true]);
    expect([won[2], won[4], won[5]].filter(Boolean)).toHaveLength(1);
    const winners = written.filter((_, i) => won[i]).flat();
    const rows = await db.prisma.oidcPayload.findMany({
      where: { id: { in: [...olds, ...written.flat()] } },
      select: { id: true, consumedAt: true, payload: true, expiresAt: true },
    });
    expect(
      rows
        .filter((r) => !olds.includes(r.id))
        .map((r) => r.id)
        .sort(),
    ).toEqual([...winners].sort());
    expect(rows.filter((r) => olds.includes(r.id)).every((r) => r.consumedAt !== null)).toBe(true);
    const one = rows.find((r) => r.id === winners[1])!;
    expect([JSON.parse(one.payload), one.expiresAt?.getTime()]).toEqual([{ kind: 'AccessToken', accountId: 'a', note: 'it\'s "quoted" \\ {x,y}' }, expires.getTime()]);
  });

  // Two batches holding two tokens in turn, both waiting on a third party's lock of the two and then
  // let go together: taken in arrival order, one batch would lock X and the other Y, each then
  // waiting for the other, and PostgreSQL would abort one (every refresh in it failing).
  it.skipIf(engine !== 'postgresql')('consumes two batches crossing on two tokens without a deadlock', async () => {
    const [x, y] = [uniq('rt'), uniq('rt')];
    for (const id of [x, y]) await new Adapter('RefreshToken').upsert(id, { kind: 'RefreshToken', accountId: 'a' }, 600);
    const consume = (id: string) => ({ consume: [new Date(), 'RefreshToken', id] as Param[], rows: [] });
    const waitingBatches = async () =>
      (await db.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%AS k(req%'`)[0]!.n;
    let batches: Promise<PromiseSettledResult<boolean[]>[]> | undefined;
    await db.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT "id" FROM "OidcPayload" WHERE "model" = 'RefreshToken' AND "id" IN (${x}, ${y}) FOR UPDATE`;
        batches = Promise.allSettled([consumeTogether(db, [consume(x), consume(y)]), consumeTogether(db, [consume(y), consume(x)])]);
        await waitFor(async () => (await waitingBatches()) >= 2, { timeout: 20_000, what: 'both batches waiting on the locks' });
      },
      { timeout: 30_000 },
    );
    const [first, second] = await batches!;
    expect([first!.status, second!.status]).toEqual(['fulfilled', 'fulfilled']);
    const [a, b] = [(first as PromiseFulfilledResult<boolean[]>).value, (second as PromiseFulfilledResult<boolean[]>).value];
    // Each token consumed once: by the first batch to get it.
    expect([a[0]! !== b[1]!, a[1]! !== b[0]!]).toEqual([true, true]);
  });
});
