// Hand-written SQL for the statements every token request runs (oidc-provider's adapter, a user by
// id, rate-limit counters) and for what Prisma cannot say (the outbox claim's FOR UPDATE SKIP
// LOCKED). Through Prisma's client each statement cost about 0.3 ms of CPU, most of a userinfo call
// (profiled in bench/); a statement prepared once on the driver costs a few microseconds. The rest
// of storage stays on Prisma. Each statement is defined once, at module load, with `sqlStatement`
// in the storage file of its table; test/storage/sql-contract.test.ts checks them all.
import type Database from 'better-sqlite3';
import type { Statement as Prepared } from 'better-sqlite3';
import pg from 'pg';
import type { Provider } from './migrate.js';
import { numberPlaceholders } from './placeholders.js';
import { connectionTurns, type ConnectionTurns } from './sqlite-connection.js';
import { CommitGroups } from './sqlite-commits.js';
import { rethrowStorage } from './unavailable.js';

/** A bound value; a list only on PostgreSQL (`unnest(?::text[])`). */
export type Param = string | number | boolean | Date | null | readonly (string | number | null)[];
export type Row = Record<string, unknown>;

/** A column of Prisma type V as a driver returns it: SQLite gives a DateTime as text and a Boolean as 0/1. */
export type RawValue<V> = V extends Date ? Date | string : V extends boolean ? boolean | number : V;
/** The row a statement returns: `columns` of the generated Prisma model type M, as the driver hands them over. */
export type RawRow<M, K extends keyof M> = { [P in K]: RawValue<M[P]> };

/** One hand-written statement, in both dialects, made once when its module loads. */
export interface Statement<R = Row> {
  /** As written: `?` placeholders and quoted identifiers, which SQLite runs as is. */
  readonly text: string;
  /** The same with `$1, $2, ...` for PostgreSQL. */
  readonly postgres: string;
  /** Its prepared-statement name on PostgreSQL connections. */
  readonly name: string;
  /** The engines it is written for (the outbox claim has one version per engine). */
  readonly engines: readonly Provider[];
  /** Type only: the row it returns. */
  readonly row?: R;
}

const defined: Statement<unknown>[] = [];

/**
 * Defines a statement; call it at module load (a top-level `export const`), never per call. `R` is
 * the row it returns, derived from the generated Prisma model (`RawRow<Model, 'column' | ...>`).
 */
export function sqlStatement<R = Row>(text: string, engines: readonly Provider[] = ['sqlite', 'postgresql']): Statement<R> {
  const statement: Statement<R> = { text, postgres: numberPlaceholders(text), name: `sesame_${defined.length}`, engines };
  defined.push(statement);
  return statement;
}

/** Writes that commit together (sqlBatch): the PostgreSQL statement itself, with the steps SQLite runs. */
export interface Batch extends Statement<unknown> {
  readonly steps: readonly Statement<unknown>[];
}

/**
 * Defines writes that commit together, in one round trip, at module load like `sqlStatement`. On
 * PostgreSQL they are one statement, each write a data-modifying CTE (atomic, all on one snapshot:
 * a later step does not see an earlier one's rows); on SQLite, the steps in one synchronous
 * transaction. The params of `Sql.batch` are the steps' own, in order.
 */
export function sqlBatch(steps: readonly Statement<unknown>[]): Batch {
  const combined = sqlStatement(`WITH ${steps.map((step, i) => `w${i} AS (${step.text})`).join(', ')} SELECT 1 AS done`, ['postgresql']);
  return Object.assign(combined, { steps });
}

/** `"a", "b", ...`: a column list from the names of a model's fields (typed, so a typo fails tsc). */
export function columnList<M>(columns: readonly (keyof M & string)[]): string {
  return columns.map((column) => `"${column}"`).join(', ');
}

/** Every statement defined so far (those of the modules loaded), for the contract test. */
export function definedStatements(): readonly Statement<unknown>[] {
  return defined;
}

/** Statements run synchronously inside `Sql.atomically`. */
export interface SyncSql {
  one<R>(statement: Statement<R>, params: Param[]): R | undefined;
  /** A write; how many rows it changed. */
  run(statement: Statement<unknown>, params: Param[]): number;
}

export interface Sql {
  /** The first row, or undefined. */
  one<R>(statement: Statement<R>, params: Param[]): Promise<R | undefined>;
  /** Every row. */
  all<R>(statement: Statement<R>, params: Param[]): Promise<R[]>;
  /** Runs a write; returns how many rows it changed. */
  run(statement: Statement<unknown>, params: Param[]): Promise<number>;
  /** Runs the writes of a batch (sqlBatch), all or none; `params` has each step's. */
  batch(batch: Batch, params: Param[][]): Promise<void>;
  /** SQLite only (absent on PostgreSQL): runs `work` synchronously, all or none (a savepoint when its commit is shared: sqlite-commits.ts); `statements` are the ones it uses. */
  atomically?<T>(statements: readonly Statement<unknown>[], work: (sql: SyncSql) => T): Promise<T>;
  close(): Promise<void>;
}

/** A DateTime column as read by either engine (SQLite: the ISO text Prisma wrote; PostgreSQL: a Date). */
export function readDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value : new Date(value as string);
}

/** A Boolean column as read by either engine (SQLite stores 0/1). */
export function readBool(value: unknown): boolean {
  return value === true || value === 1;
}

// A request binds the same few instants many times (a send's limits: now, and a window's start and
// end per counter); their text is made once (it was 2 % of a start's CPU on SQLite).
const dateTexts = new Map<number, string>();
function sqliteDate(date: Date): string {
  const ms = date.getTime();
  let text = dateTexts.get(ms);
  if (text === undefined) {
    if (dateTexts.size >= 64) dateTexts.clear();
    dateTexts.set(ms, (text = date.toISOString().replace('Z', '+00:00')));
  }
  return text;
}

/**
 * Statements on Prisma's own SQLite connection (`connection` hands it over, connecting if needed).
 * One connection means one writer in this process: a second one would meet Prisma's open
 * transactions as SQLITE_BUSY, and better-sqlite3 is synchronous, so waiting on it would stall the
 * event loop that Prisma needs to finish them. Sharing it, a statement must not run while a Prisma
 * transaction is open (it would run inside it): it waits for its turn (ConnectionTurns), reads as
 * well as writes, as a read would see rows the transaction may yet roll back. So never call these
 * from inside a `$transaction` callback: the statement would wait for the very transaction waiting
 * for it, until Prisma's timeout rolls that back.
 */
export function sqliteSql(connection: () => Promise<Database.Database>, rethrow: (err: unknown) => never): Sql {
  let cachedFor: Database.Database | undefined;
  let turns: ConnectionTurns | undefined;
  let commits: CommitGroups | undefined;
  const prepared = new Map<Statement<unknown>, Prepared>();
  const prepare = async (statement: Statement<unknown>) => {
    const database = await connection();
    if (database !== cachedFor) {
      prepared.clear();
      cachedFor = database;
      turns = connectionTurns(database);
      commits = new CommitGroups(database, turns);
    }
    let ready = prepared.get(statement);
    if (!ready) {
      // Prisma's adapter turns on BigInt integers for the connection; ours are small.
      prepared.set(statement, (ready = database.prepare(statement.text).safeIntegers(false)));
    }
    return ready;
  };
  const bind = (params: Param[]) => params.map((p) => (p instanceof Date ? sqliteDate(p) : typeof p === 'boolean' ? Number(p) : p));
  const execute = async <T>(statement: Statement<unknown>, work: (ready: Prepared) => T): Promise<T> => {
    try {
      const ready = await prepare(statement);
      return await turns!.run(() => work(ready));
    } catch (err) {
      return rethrow(err);
    }
  };
  return {
    one: <R>(statement: Statement<R>, params: Param[]) => execute(statement, (p) => p.get(...bind(params)) as R | undefined),
    all: <R>(statement: Statement<R>, params: Param[]) => execute(statement, (p) => p.all(...bind(params)) as R[]),
    run: (statement, params) => execute(statement, (p) => p.run(...bind(params)).changes),
    async batch(batch, params) {
      try {
        const ready: Prepared[] = [];
        for (const step of batch.steps) ready.push(await prepare(step));
        // Synchronous from BEGIN to COMMIT: nothing else runs on the connection in between. On
        // its turn, or better-sqlite3 would nest it in Prisma's open transaction as a savepoint.
        // IMMEDIATE: it takes the write lock first, waiting for other processes' writers (see atomically).
        // With the other transactions of the moment, each in its own savepoint (sqlite-commits.ts).
        await commits!.run(() => ready.forEach((p, i) => p.run(...bind(params[i]!))));
      } catch (err) {
        rethrow(err);
      }
    },
    async atomically(statements, work) {
      try {
        const ready = new Map<Statement<unknown>, Prepared>();
        for (const statement of statements) ready.set(statement, await prepare(statement));
        const sql: SyncSql = { one: (statement, params) => ready.get(statement)!.get(...bind(params)) as never, run: (s, params) => ready.get(s)!.run(...bind(params)).changes };
        // On its turn, as a batch (grouped like one), and IMMEDIATE: begun deferred, a transaction that reads and then
        // writes fails its first write at once with SQLITE_BUSY when another process (a worker of
        // `serve --workers`) committed since its read; no busy wait helps a stale snapshot
        // (test/storage/sqlite-transactions.test.ts). Begun IMMEDIATE it waits for the lock, then reads.
        return await commits!.run(() => work(sql));
      } catch (err) {
        return rethrow(err);
      }
    },
    async close() {
      // The connection is Prisma's; Db.close ends it.
      prepared.clear();
      cachedFor = undefined;
      turns = undefined;
      commits = undefined;
    },
  };
}

const TIMESTAMP_OID = 1114;
// Prisma keeps DateTime as UTC in `timestamp(3)` columns (no zone); read and write them as UTC too.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === TIMESTAMP_OID ? (text: string) => new Date(`${text.replace(' ', 'T')}Z`) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Statements on the pool Prisma's adapter uses too, prepared once per connection (named). */
export function postgresSql(pool: pg.Pool): Sql {
  const query = (statement: Statement<unknown>, params: Param[]) => {
    const values = params.map((p) => (p instanceof Date ? p.toISOString().slice(0, -1) : p));
    return pool.query({ name: statement.name, text: statement.postgres, values, types }).catch(rethrowStorage);
  };
  return {
    one: async <R>(statement: Statement<R>, params: Param[]) => (await query(statement, params)).rows[0] as R | undefined,
    all: async <R>(statement: Statement<R>, params: Param[]) => (await query(statement, params)).rows as R[],
    run: async (statement, params) => (await query(statement, params)).rowCount ?? 0,
    async batch(batch, params) {
      await query(batch, params.flat());
    },
    async close() {
      // The pool is Prisma's too; Db.close ends it.
    },
  };
}
