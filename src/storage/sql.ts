// Hand-written SQL for the statements every token request runs (oidc-provider's adapter, a user by
// id, rate-limit counters) and for what Prisma cannot say (the outbox claim's FOR UPDATE SKIP
// LOCKED). Through Prisma's client each statement cost about 0.3 ms of CPU, most of a userinfo call
// (profiled in bench/); a statement prepared once on the driver costs a few microseconds. The rest
// of storage stays on Prisma. Statements use `?` placeholders and quoted identifiers, which both
// engines read; PostgreSQL gets them renumbered as $1, $2, ...
import type Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import pg from 'pg';
import { rethrowStorage } from './unavailable.js';

export type Param = string | number | boolean | Date | null;
export type Row = Record<string, unknown>;

export interface Sql {
  /** The first row, or undefined. */
  one<T = Row>(text: string, params: Param[]): Promise<T | undefined>;
  /** Every row. */
  all<T = Row>(text: string, params: Param[]): Promise<T[]>;
  /** Runs a write; returns how many rows it changed. */
  run(text: string, params: Param[]): Promise<number>;
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

/**
 * Statements on Prisma's own SQLite connection (`connection` hands it over, connecting if needed).
 * One connection means one writer in this process: a second one would meet Prisma's open
 * transactions as SQLITE_BUSY, and better-sqlite3 is synchronous, so waiting on it would stall the
 * event loop that Prisma needs to finish them.
 */
export function sqliteSql(connection: () => Promise<Database.Database>, rethrow: (err: unknown) => never): Sql {
  let cachedFor: Database.Database | undefined;
  const statements = new Map<string, Statement>();
  const statement = async (text: string) => {
    const database = await connection();
    if (database !== cachedFor) {
      statements.clear();
      cachedFor = database;
    }
    let prepared = statements.get(text);
    if (!prepared) {
      // Prisma's adapter turns on BigInt integers for the connection; ours are small.
      statements.set(text, (prepared = database.prepare(text).safeIntegers(false)));
    }
    return prepared;
  };
  const bind = (params: Param[]) =>
    params.map((p) => (p instanceof Date ? p.toISOString().replace('Z', '+00:00') : typeof p === 'boolean' ? Number(p) : p));
  const execute = async <T>(text: string, work: (prepared: Statement) => T): Promise<T> => {
    try {
      return work(await statement(text));
    } catch (err) {
      return rethrow(err);
    }
  };
  return {
    one: <T>(text: string, params: Param[]) => execute(text, (p) => p.get(...bind(params)) as T | undefined),
    all: <T>(text: string, params: Param[]) => execute(text, (p) => p.all(...bind(params)) as T[]),
    run: (text, params) => execute(text, (p) => p.run(...bind(params)).changes),
    async close() {
      // The connection is Prisma's; Db.close ends it.
      statements.clear();
      cachedFor = undefined;
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
  const named = new Map<string, { name: string; text: string }>();
  const query = (text: string, params: Param[]) => {
    let q = named.get(text);
    if (!q) {
      let n = 0;
      named.set(text, (q = { name: `sesame_${named.size}`, text: text.replace(/\?/g, () => `$${++n}`) }));
    }
    const values = params.map((p) => (p instanceof Date ? p.toISOString().slice(0, -1) : p));
    return pool.query({ ...q, values, types }).catch(rethrowStorage);
  };
  return {
    one: async <T>(text: string, params: Param[]) => (await query(text, params)).rows[0] as T | undefined,
    all: async <T>(text: string, params: Param[]) => (await query(text, params)).rows as T[],
    run: async (text, params) => (await query(text, params)).rowCount ?? 0,
    async close() {
      // The pool is Prisma's too; Db.close ends it.
    },
  };
}
