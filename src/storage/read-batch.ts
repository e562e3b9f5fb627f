// Statements of one kind that concurrent requests make, sent to PostgreSQL together. Each statement
// is a round trip, and at load its socket write costs this process more CPU than the rows it brings:
// profiled in bench/ (userinfo on PostgreSQL, one statement a request), a fifth of the process went
// to the writes of its statements. So while `inFlight` statements of the kind are out, items wait,
// and the next statement takes every item that waited (up to `max`). Nothing waits on a timer: a
// process with nothing in flight sends an item at once, alone, so a lone request is never slower.
// Each statement starts after every request in it arrived and runs on its own snapshot, so it sees
// every write committed before them: a revocation on any instance counts from the next request, as
// with a statement of its own.

export interface BatchLimits {
  /** Statements of the kind out at once; items wait for one to come back. */
  inFlight: number;
  /** Items per statement. */
  max: number;
}

interface Waiter<R> {
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

const LIMITS: BatchLimits = { inFlight: 2, max: 100 };

/**
 * One item's statement, batched: `run` makes one statement of many items and answers each item's
 * result, in their order. A failed statement fails each of its items, and only those.
 */
export function statementBatcher<I, R>(run: (items: I[]) => Promise<R[]>, limits: BatchLimits = LIMITS): (item: I) => Promise<R> {
  const waiting: { item: I; waiter: Waiter<R> }[] = [];
  let out = 0;
  function send(): void {
    while (out < limits.inFlight && waiting.length > 0) {
      const batch = waiting.splice(0, limits.max);
      out++;
      // The next statement goes out before this one's items go on: the items that waited need not wait longer.
      const done = () => {
        out--;
        send();
      };
      run(batch.map((b) => b.item)).then(
        (results) => {
          done();
          batch.forEach((b, i) => b.waiter.resolve(results[i]!));
        },
        (err: unknown) => {
          done();
          for (const b of batch) b.waiter.reject(err);
        },
      );
    }
  }
  return (item) =>
    new Promise<R>((resolve, reject) => {
      waiting.push({ item, waiter: { resolve, reject } });
      send();
    });
}

/**
 * A read of the rows of one key, batched: `load` reads the rows of many keys (each once) in one
 * statement and answers them by key (a key with none may be absent).
 */
export function readBatcher<V>(load: (keys: string[]) => Promise<Map<string, V[]>>, limits: BatchLimits = LIMITS): (key: string) => Promise<V[]> {
  return statementBatcher(async (keys: string[]) => {
    const found = await load([...new Set(keys)]);
    return keys.map((key) => found.get(key) ?? []);
  }, limits);
}
