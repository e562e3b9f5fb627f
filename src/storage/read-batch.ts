// Reads of one kind that concurrent requests make, sent to PostgreSQL together. Each statement is a
// round trip, and at load its socket write costs this process more CPU than the rows it brings:
// profiled in bench/ (userinfo on PostgreSQL, one statement a request), a fifth of the process went
// to the writes of its statements. So while `inFlight` statements of the kind are out, keys wait, and
// the next statement takes every key that waited (up to `max`). Nothing waits on a timer: a process
// with nothing in flight sends a read at once, alone, so a lone request is never slower. Each
// statement starts after every request in it arrived and runs on its own snapshot, so it sees every
// write committed before them: a revocation on any instance counts from the next request, as with a
// statement of its own.

export interface BatchLimits {
  /** Statements of the kind out at once; keys wait for one to come back. */
  inFlight: number;
  /** Keys per statement. */
  max: number;
}

interface Waiter<V> {
  resolve: (rows: V[]) => void;
  reject: (err: unknown) => void;
}

/**
 * A read of the rows of one key, batched: `load` reads the rows of many keys in one statement and
 * answers them by key (a key with none may be absent). Parallel reads of one key share a place.
 */
export function readBatcher<V>(load: (keys: string[]) => Promise<Map<string, V[]>>, limits: BatchLimits = { inFlight: 2, max: 100 }): (key: string) => Promise<V[]> {
  const waiting = new Map<string, Waiter<V>[]>();
  let out = 0;
  function send(): void {
    while (out < limits.inFlight && waiting.size > 0) {
      const batch = new Map<string, Waiter<V>[]>();
      for (const [key, waiters] of waiting) {
        if (batch.size === limits.max) break;
        batch.set(key, waiters);
      }
      for (const key of batch.keys()) waiting.delete(key);
      out++;
      // The next statement goes out before this one's reads go on: the keys that waited need not wait longer.
      const done = () => {
        out--;
        send();
      };
      load([...batch.keys()]).then(
        (found) => {
          done();
          for (const [key, waiters] of batch) for (const waiter of waiters) waiter.resolve(found.get(key) ?? []);
        },
        (err: unknown) => {
          done();
          for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(err);
        },
      );
    }
  }
  return (key) =>
    new Promise<V[]>((resolve, reject) => {
      const waiters = waiting.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else waiting.set(key, [{ resolve, reject }]);
      send();
    });
}
