// The batched reads of storage/read-batch.ts (the token reads of userinfo, introspection and refresh
// on PostgreSQL): a lone read goes out at once; reads that come while statements are out wait and
// go out together; a key asked twice is read once; a failed statement fails its own reads only.
// Then oidc-provider's adapter with parallel requests on both engines: each request gets its own
// token with its session and grant, and on PostgreSQL the reads that waited are one statement.
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { createAdapterClass } from '../../src/storage/oidc-adapter.js';
import { readBatcher } from '../../src/storage/read-batch.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';
import { takePgStatements } from '../helpers/pg-statements.js';

/** A load whose statements the test answers by hand, in order. */
function manualLoad() {
  const statements: { keys: string[]; answer: (rows: Map<string, string[]>) => void; fail: (err: Error) => void }[] = [];
  const load = (keys: string[]) =>
    new Promise<Map<string, string[]>>((resolve, reject) => {
      statements.push({ keys, answer: resolve, fail: reject });
    });
  const rowsOf = (keys: string[]) => new Map(keys.map((key) => [key, [`row of ${key}`]]));
  return { statements, load, rowsOf };
}

describe('batched reads', () => {
  it('sends a lone read at once, and the reads that come meanwhile in one statement after it', async () => {
    const { statements, load, rowsOf } = manualLoad();
    const read = readBatcher(load, { inFlight: 1, max: 100 });
    const first = read('a');
    expect(statements.map((s) => s.keys)).toEqual([['a']]);
    const later = ['b', 'c', 'b', 'd'].map((key) => read(key));
    expect(statements).toHaveLength(1);
    statements[0]!.answer(rowsOf(['a']));
    expect(await first).toEqual(['row of a']);
    expect(statements.map((s) => s.keys)).toEqual([['a'], ['b', 'c', 'd']]);
    statements[1]!.answer(rowsOf(['b', 'c']));
    expect(await Promise.all(later)).toEqual([['row of b'], ['row of c'], ['row of b'], []]);
  });

  it('keeps at most `inFlight` statements out and `max` keys in each', async () => {
    const { statements, load, rowsOf } = manualLoad();
    const read = readBatcher(load, { inFlight: 2, max: 2 });
    const reads = ['a', 'b', 'c', 'd', 'e', 'f'].map((key) => read(key));
    expect(statements.map((s) => s.keys)).toEqual([['a'], ['b']]);
    statements[1]!.answer(rowsOf(['b']));
    await reads[1];
    expect(statements.map((s) => s.keys)).toEqual([['a'], ['b'], ['c', 'd']]);
    statements[0]!.answer(rowsOf(['a']));
    await reads[0];
    expect(statements.map((s) => s.keys)).toEqual([['a'], ['b'], ['c', 'd'], ['e', 'f']]);
    statements[2]!.answer(rowsOf(['c', 'd']));
    statements[3]!.answer(rowsOf(['e', 'f']));
    expect(await Promise.all(reads)).toEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((key) => [`row of ${key}`]));
  });

  it('fails the reads of a failed statement only, and goes on with the next', async () => {
    const { statements, load, rowsOf } = manualLoad();
    const read = readBatcher(load, { inFlight: 1, max: 100 });
    const first = read('a');
    const failing = [read('b'), read('c')];
    statements[0]!.fail(new Error('database unavailable'));
    await expect(first).rejects.toThrow('database unavailable');
    expect(statements.map((s) => s.keys)).toEqual([['a'], ['b', 'c']]);
    const after = read('d');
    statements[1]!.fail(new Error('connection reset'));
    for (const r of failing) await expect(r).rejects.toThrow('connection reset');
    expect(statements.map((s) => s.keys)).toEqual([['a'], ['b', 'c'], ['d']]);
    statements[2]!.answer(rowsOf(['d']));
    expect(await after).toEqual(['row of d']);
  });
});

describe.each(ENGINES)("the adapter's token reads of parallel requests on %s", (engine) => {
  let db: Db;
  withMigratedDb(engine, (opened) => {
    db = opened;
  });

  it('gives each request its own token, session and grant; on PostgreSQL the reads that waited go out as one statement', async () => {
    const Plain = createAdapterClass(db);
    const ids = Array.from({ length: 8 }, (_, i) => `batch-at-${i}`);
    for (const [i, id] of ids.entries()) {
      // The last id has no row: that request gets none, the others theirs.
      if (i === ids.length - 1) break;
      await new Plain('Session').upsert(`batch-s-${i}`, { kind: 'Session', uid: `batch-u-${i}`, accountId: `acct-${i}` } as never, 600);
      await new Plain('Grant').upsert(`batch-g-${i}`, { kind: 'Grant', accountId: `acct-${i}` } as never, 600);
      await new Plain('AccessToken').upsert(id, { kind: 'AccessToken', grantId: `batch-g-${i}`, sessionUid: `batch-u-${i}`, accountId: `acct-${i}` } as never, 600);
    }
    // Each find in a request of its own; all asked in one turn of the event loop, as a burst arrives.
    let current: object | undefined;
    const Adapter = createAdapterClass(db, () => current);
    const requests = ids.map(() => ({}));
    takePgStatements();
    const found = ids.map((id, i) => {
      current = requests[i];
      return new Adapter('AccessToken').find(id);
    });
    const tokens = await Promise.all(found);
    // Two at once, alone; then the six that waited.
    if (engine === 'postgresql') expect(takePgStatements().filter((text) => text.includes('unnest('))).toHaveLength(3);
    expect(tokens.map((token) => token && [token.kind, token.accountId, token.grantId])).toEqual(
      ids.map((_, i) => (i === ids.length - 1 ? undefined : ['AccessToken', `acct-${i}`, `batch-g-${i}`])),
    );
    // Each request has its session and grant from the same read: no statement more.
    takePgStatements();
    for (const [i, request] of requests.slice(0, -1).entries()) {
      current = request;
      expect(await new Adapter('Session').findByUid(`batch-u-${i}`)).toMatchObject({ uid: `batch-u-${i}`, accountId: `acct-${i}` });
      expect(await new Adapter('Grant').find(`batch-g-${i}`)).toMatchObject({ accountId: `acct-${i}` });
    }
    expect(takePgStatements()).toEqual([]);
  });
});
