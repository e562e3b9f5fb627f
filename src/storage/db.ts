// Opens the database named by DATABASE_URL with the matching Prisma client and driver adapter.
// Everything else talks to the `Db` type; only src/storage/ touches Prisma.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient as SqliteClient } from './generated/sqlite/client.js';
import { PrismaClient as PgClient } from './generated/postgresql/client.js';
import { providerOf } from './migrate.js';
import { postgresSql, sqliteSql, type Sql } from './sql.js';
import { SqliteAdapter } from './sqlite-connection.js';
import { rethrowStorage } from './unavailable.js';

/** Both generated clients expose the same model API; we program against the SQLite one's types. */
export type Prisma = InstanceType<typeof SqliteClient>;

export interface Db {
  prisma: Prisma;
  /** Prepared statements for the hot paths (see sql.ts). */
  sql: Sql;
  provider: 'sqlite' | 'postgresql';
  /** The PostgreSQL pool's connections now (the metrics' pool gauges); absent on SQLite. */
  poolStats?(): { total: number; idle: number; waiting: number; max: number };
  close(): Promise<void>;
}

export function sqlitePath(databaseUrl: string): string {
  return resolve(databaseUrl.slice('file:'.length).split('?')[0]!);
}

export function openDb(databaseUrl: string): Db {
  const provider = providerOf(databaseUrl);
  let prisma: Prisma;
  let sql: Sql;
  let endPool = async () => {};
  let poolStats: Db['poolStats'];
  let rethrow: (err: unknown) => never = (err) => rethrowStorage(err);
  if (provider === 'sqlite') {
    const file = sqlitePath(databaseUrl);
    rethrow = (err) => rethrowStorage(err, file);
    mkdirSync(dirname(file), { recursive: true });
    // WAL lets readers run beside the writer; the busy timeout rides out other processes' writes.
    const adapter = new SqliteAdapter({ url: `file:${file}`, timeout: 5000 });
    prisma = new SqliteClient({ adapter });
    // sql.ts runs its statements on the connection the adapter opens (see sqliteSql for why).
    sql = sqliteSql(async () => {
      if (!adapter.connection) await prisma.$connect();
      return adapter.connection!;
    }, rethrow);
  } else {
    const url = new URL(databaseUrl);
    const schema = url.searchParams.get('schema') ?? undefined;
    // One pool for Prisma and the hand-written statements; the search path is for the latter
    // (Prisma names the schema in its own SQL).
    const pool = new pg.Pool({ connectionString: databaseUrl, ...(schema ? { options: `-c search_path="${schema}"` } : {}) });
    // A connection dropped while idle (database restarted) must not crash the process; the next
    // query opens a new one, and failing queries reach their callers.
    pool.on('error', () => {});
    const adapter = new PrismaPg(pool, schema ? { schema } : undefined);
    prisma = new PgClient({ adapter }) as unknown as Prisma;
    sql = postgresSql(pool);
    endPool = () => pool.end();
    poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max });
  }
  // Every Prisma call reports an unreachable, full or read-only database as StorageUnavailable (503).
  prisma = prisma.$extends({ query: { $allOperations: ({ args, query }) => query(args).catch(rethrow) } }) as unknown as Prisma;
  return {
    prisma,
    sql,
    provider,
    ...(poolStats && { poolStats }),
    async close() {
      await prisma.$disconnect();
      await sql.close();
      await endPool();
    },
  };
}

/** True when the database answers; used by /readyz. */
export async function ping(db: Db): Promise<boolean> {
  try {
    await db.prisma.$queryRawUnsafe('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a text from a request can be a stored value at all: PostgreSQL refuses a NUL in text
 * outright (an error, not "no row"), so a route looking up an id from its path asks this first and
 * answers "not found" itself.
 */
export function storable(text: string): boolean {
  return !text.includes('\u0000');
}
