// Opens the database named by DATABASE_URL with the matching Prisma client and driver adapter.
// Everything else talks to the `Db` type; only src/storage/ touches Prisma.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as SqliteClient } from './generated/sqlite/client.js';
import { PrismaClient as PgClient } from './generated/postgresql/client.js';
import { providerOf } from './migrate.js';

/** Both generated clients expose the same model API; we program against the SQLite one's types. */
export type Prisma = InstanceType<typeof SqliteClient>;

export interface Db {
  prisma: Prisma;
  provider: 'sqlite' | 'postgresql';
  close(): Promise<void>;
}

export function sqlitePath(databaseUrl: string): string {
  return resolve(databaseUrl.slice('file:'.length).split('?')[0]!);
}

export function openDb(databaseUrl: string): Db {
  const provider = providerOf(databaseUrl);
  let prisma: Prisma;
  if (provider === 'sqlite') {
    const file = sqlitePath(databaseUrl);
    mkdirSync(dirname(file), { recursive: true });
    // WAL lets readers run beside the writer; the busy timeout rides out short write locks.
    const adapter = new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 5000 });
    prisma = new SqliteClient({ adapter });
  } else {
    const url = new URL(databaseUrl);
    const schema = url.searchParams.get('schema') ?? undefined;
    const adapter = new PrismaPg({ connectionString: databaseUrl }, schema ? { schema } : undefined);
    prisma = new PgClient({ adapter }) as unknown as Prisma;
  }
  return {
    prisma,
    provider,
    async close() {
      await prisma.$disconnect();
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
