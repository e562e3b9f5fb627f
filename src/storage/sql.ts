// Hand-written SQL for the statements every token request runs (oidc-provider's adapter, a user by
// id) and for what Prisma cannot say (the outbox claim's FOR UPDATE SKIP LOCKED). Through Prisma's client each statement cost about 0.3 ms of CPU, most of a userinfo call
// (profiled in bench/); a statement prepared once on the driver costs a few microseconds. The rest
// of storage stays on Prisma. Statements use `?` placeholders and quoted identifiers, which both
// engines read; PostgreSQL gets them renumbered as $1, $2, ...
import Database, { type Statement } from 'better-sqlite3';
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

const SQLITE_WRITE_WAIT_MS = 5000;

/**
 * A second connection to the SQLite file, beside Prisma's. Its busy timeout is zero and a locked
 * database is waited out with timers instead: better-sqlite3 is synchronous, and a busy wait inside
 * it would stall the event loop while Prisma's connection, on that same loop, holds the write lock.
 */
export function sqliteSql(file: string): Sql {
  let database: Database.Database | undefined;
  const statements = new Map<string, Statement>();
  const statement = (text: string) => {
    database ??= new Database(file, { timeout: 0 });
    let prepared = statements.get(text);
    if (!prepared) statements.set(text, (prepared = database.prepare(text)));
    return prepared;
  };
  const bind = (params: Param[]) =>
    params.map((p) => (p instanceof Date ? p.toISOString().replace('Z', '+00:00') : typeof p === 'boolean' ? Number(p) : p));
  async function patiently<T>(work: () => T): Promise<T> {
    const deadline = Date.now() + SQLITE_WRITE_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(2 * wait, 50)) {
      try {
        return work();
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }
  return {
    one: <T>(text: string, params: Param[]) => patiently(() => statement(text).get(...bind(params)) as T | undefined).catch(rethrowStorage),
    all: <T>(text: string, params: Param[]) => patiently(() => statement(text).all(...bind(params)) as T[]).catch(rethrowStorage),
    run: (text, params) => patiently(() => statement(text).run(...bind(params)).changes).catch(rethrowStorage),
    async close() {
      database?.close();
      database = undefined;
      statements.clear();
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
