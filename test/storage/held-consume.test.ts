// A refresh's consume held back and written with its new tokens (storage/oidc-adapter.ts
// withHeldConsume): on PostgreSQL one statement, the tokens written only if its consume won. Run
// on both engines: SQLite consumes at once, and the outcome must be the same.
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { ConsumeLost, createAdapterClass, withDeferredTokenWrites, withHeldConsume } from '../../src/storage/oidc-adapter.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

let n = 0;
const uniq = (prefix: string) => `${prefix}-${++n}-${Math.random().toString(36).slice(2, 8)}`;

describe.each(ENGINES)('held consume on %s', (engine) => {
  let db: Db;
  let Adapter: ReturnType<typeof createAdapterClass>;
  withMigratedDb(engine, (opened) => {
    db = opened;
    Adapter = createAdapterClass(db);
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
});
