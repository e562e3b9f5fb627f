// The SQLite driver adapter with its connection in reach: sql.ts runs its statements on the very
// connection Prisma uses (see sqliteSql for why), and @prisma/adapter-better-sqlite3 has no public
// way to hand it over. `adapterConnection` is the one place that reaches into the adapter.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import Database from 'better-sqlite3';

type OpenedAdapter = Awaited<ReturnType<PrismaBetterSqlite3['connect']>>;

/**
 * The better-sqlite3 connection behind an adapter `connect()` returned. The seam: it reads the
 * adapter's undeclared `client` field (7.x), and throws rather than guess when that field is gone;
 * test/storage/sqlite-connection.test.ts fails first, on an upgrade.
 */
export function adapterConnection(opened: OpenedAdapter): Database.Database {
  const client = (opened as unknown as { client?: unknown }).client;
  if (!(client instanceof Database)) {
    throw new Error('@prisma/adapter-better-sqlite3 no longer exposes its connection as `client`; see src/storage/sqlite-connection.ts');
  }
  return client;
}

/**
 * Whose turn it is on the one connection. A Prisma transaction (interactive, or a batch
 * `$transaction([...])`) holds it from before its BEGIN until after its COMMIT or ROLLBACK, across
 * the awaits in between; whatever else would run on the connection meanwhile (sql.ts statements and
 * batches, Prisma's own queries outside a transaction) would run inside that transaction, see its
 * uncommitted rows and be undone by its rollback. So it waits its turn instead, first come first
 * served: a statement that waits for one transaction is not overtaken by the next. Work that finds
 * the connection free runs at once (better-sqlite3 is synchronous: nothing can come in between).
 */
export class ConnectionTurns {
  #held = false;
  readonly #queue: (() => void)[] = [];

  /** How many wait for their turn (for tests: it never changes what runs). */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves when the caller holds the connection; it must `release` it after. */
  acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  /** Hands the connection to the next in line (it stays held meanwhile), or frees it. */
  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#held = false;
  }

  /** Runs synchronous work on the connection: now when it is free, else on its turn. */
  run<T>(work: () => T): T | Promise<T> {
    if (!this.#held) return work();
    return this.acquire().then(() => {
      try {
        return work();
      } finally {
        this.release();
      }
    });
  }
}

const turnsByConnection = new WeakMap<Database.Database, ConnectionTurns>();

/** The turns of a connection (one per connection; a connection Prisma never opened has no transactions to wait for). */
export function connectionTurns(connection: Database.Database): ConnectionTurns {
  let turns = turnsByConnection.get(connection);
  if (!turns) turnsByConnection.set(connection, (turns = new ConnectionTurns()));
  return turns;
}

/**
 * Makes Prisma take turns. The adapter runs BEGIN in `startTransaction` and the engine sends COMMIT
 * or ROLLBACK through the transaction before calling its `commit` or `rollback` (which only unlock
 * the adapter's own mutex, kept for transactions alone); its other queries run on the connection
 * synchronously when called, whether a transaction is open or not.
 */
function takeTurns(opened: OpenedAdapter, connection: Database.Database, turns: ConnectionTurns): void {
  const start = opened.startTransaction.bind(opened);
  opened.startTransaction = async (isolationLevel) => {
    await turns.acquire();
    let transaction: Awaited<ReturnType<typeof start>>;
    try {
      transaction = await start(isolationLevel);
    } catch (err) {
      turns.release();
      throw err;
    }
    let ended = false;
    for (const method of ['commit', 'rollback'] as const) {
      const finish = transaction[method].bind(transaction);
      transaction[method] = async () => {
        try {
          await finish();
        } finally {
          if (!ended) {
            ended = true;
            try {
              // After a failed COMMIT the engine calls `rollback` without sending ROLLBACK: the
              // transaction is still open, and the next in line would run inside it.
              if (connection.inTransaction) connection.exec('ROLLBACK');
            } finally {
              turns.release();
            }
          }
        }
      };
    }
    return transaction;
  };
  const queryRaw = opened.queryRaw.bind(opened);
  const executeRaw = opened.executeRaw.bind(opened);
  const executeScript = opened.executeScript.bind(opened);
  opened.queryRaw = async (query) => turns.run(() => queryRaw(query));
  opened.executeRaw = async (query) => turns.run(() => executeRaw(query));
  opened.executeScript = async (script) => turns.run(() => executeScript(script));
}

/**
 * Prisma's transactions begin IMMEDIATE, as sql.ts's do: the adapter runs a bare BEGIN, and a
 * transaction begun deferred that reads and then writes fails at once with SQLITE_BUSY when another
 * process (a worker of `serve --workers`) committed since its read (test/storage/sqlite-transactions.test.ts).
 */
function beginImmediate(connection: Database.Database): void {
  const prepare = connection.prepare.bind(connection);
  connection.prepare = ((source: string) => prepare(source === 'BEGIN' ? 'BEGIN IMMEDIATE' : source)) as typeof connection.prepare;
}

/** Prisma's SQLite adapter that keeps the connection it opened (`connection`), tunes it, and makes its users take turns. */
export class SqliteAdapter extends PrismaBetterSqlite3 {
  /** The connection Prisma uses; undefined until Prisma connects. */
  connection: Database.Database | undefined;

  override async connect(): Promise<OpenedAdapter> {
    const opened = await super.connect();
    this.connection = adapterConnection(opened);
    takeTurns(opened, this.connection, connectionTurns(this.connection));
    beginImmediate(this.connection);
    // In WAL mode NORMAL syncs at checkpoints instead of at every commit: the file cannot be
    // corrupted, and only commits of the last moments before a power cut (not a crash of
    // Sesame) can be lost. FULL made each token request wait for three fsyncs.
    this.connection.pragma('synchronous = NORMAL');
    return opened;
  }
}
