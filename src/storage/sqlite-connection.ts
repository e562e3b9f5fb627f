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

/** Prisma's SQLite adapter that keeps the connection it opened (`connection`) and tunes it. */
export class SqliteAdapter extends PrismaBetterSqlite3 {
  /** The connection Prisma uses; undefined until Prisma connects. */
  connection: Database.Database | undefined;

  override async connect(): Promise<OpenedAdapter> {
    const opened = await super.connect();
    this.connection = adapterConnection(opened);
    // In WAL mode NORMAL syncs at checkpoints instead of at every commit: the file cannot be
    // corrupted, and only commits of the last moments before a power cut (not a crash of
    // Sesame) can be lost. FULL made each token request wait for three fsyncs.
    this.connection.pragma('synchronous = NORMAL');
    return opened;
  }
}
