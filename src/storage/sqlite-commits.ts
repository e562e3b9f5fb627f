// Group commit on SQLite. Every commit appends each page it changed to the WAL, and a request's
// writes touch few rows on many pages (a code, its outbox message and audit event, each with its
// indexes, and the limit counters): 55 page writes per passwordless start, a quarter of the
// server's CPU at load. Concurrent requests change the same pages (the tables' and the time
// indexes' last pages, the counters of one client or address), so the transactions that arrive
// while the event loop is busy commit together once it turns (setImmediate): each in its own
// savepoint, so one that throws is undone alone and its caller alone sees the error, the others
// commit. Each caller's promise settles after the COMMIT, so nothing is reported done before it is
// stored; a failed COMMIT fails them all, and none of their writes stays.
import type Database from 'better-sqlite3';
import type { ConnectionTurns } from './sqlite-connection.js';

/** At most this many transactions commit together, so one commit does not hold the loop long. */
export const MAX_GROUP = 64;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Pending {
  work: () => unknown;
  resolve: (value: never) => void;
  reject: (error: unknown) => void;
}

/** Runs synchronous transactions on `database`, on its turn, committing those queued together together. */
export class CommitGroups {
  #queue: Pending[] = [];
  #scheduled = false;
  readonly #database: Database.Database;
  readonly #turns: ConnectionTurns;
  readonly #savepoint: () => void;
  readonly #release: () => void;
  readonly #rollbackTo: () => void;

  constructor(database: Database.Database, turns: ConnectionTurns) {
    this.#database = database;
    this.#turns = turns;
    const run = (text: string) => {
      const statement = database.prepare(text);
      return () => void statement.run();
    };
    this.#savepoint = run('SAVEPOINT grouped');
    this.#release = run('RELEASE grouped');
    this.#rollbackTo = run('ROLLBACK TO grouped');
  }

  /** Runs `work` in a transaction (IMMEDIATE: see Sql.atomically) with the others queued now; resolves after its commit. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: never) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    const group = this.#queue.splice(0, MAX_GROUP);
    if (this.#queue.length) setImmediate(() => this.#flush());
    else this.#scheduled = false;
    const outcomes: Outcome[] = [];
    const commit = () => this.#database.transaction(() => this.#runAll(group, outcomes)).immediate();
    Promise.resolve()
      .then(() => this.#turns.run(commit))
      .then(
        () => group.forEach((p, i) => (outcomes[i]!.ok ? p.resolve(outcomes[i]!.value as never) : p.reject(outcomes[i]!.error))),
        (error: unknown) => group.forEach((p) => p.reject(error)),
      );
  }

  #runAll(group: Pending[], outcomes: Outcome[]): void {
    // Alone, the transaction is its own: an error rolls it back and reaches its caller.
    if (group.length === 1) {
      outcomes.push({ ok: true, value: group[0]!.work() });
      return;
    }
    for (const pending of group) {
      this.#savepoint();
      try {
        outcomes.push({ ok: true, value: pending.work() });
        this.#release();
      } catch (error) {
        this.#rollbackTo();
        this.#release();
        outcomes.push({ ok: false, error });
      }
    }
  }
}
