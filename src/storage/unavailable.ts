// Storage failures that belong to the environment, not to the request: the database unreachable or
// restarting, its disk full or read-only. Storage turns them into StorageUnavailable, a plain error
// with the cause for the logs; the layers above answer it as 503 temporarily_unavailable (never a
// 500, never a success that lost the write): http/errors.ts for our routes, oidc/storage-errors.ts
// for oidc-provider's. Everything recovers on its own: the pool
// opens new connections once PostgreSQL is back; SQLite writes again once the disk is.
import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';

export class StorageUnavailable extends Error {
  override name = 'StorageUnavailable';

  constructor(
    /** What broke, for the logs: e.g. "database unreachable (ECONNREFUSED)", "disk full (SQLITE_FULL)". */
    readonly reason: string,
    cause: unknown,
  ) {
    super(`storage unavailable: ${reason}`, { cause });
  }
}

const UNREACHABLE = new Set([
  // sockets
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  // PostgreSQL: shutting down, crashed, starting up, too many connections
  '57P01',
  '57P02',
  '57P03',
  '53300',
  // Prisma: cannot reach, timed out, connection closed, no pooled connection in time
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
  // Prisma's driver-adapter error kinds
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);
// node-postgres says these without a code.
const UNREACHABLE_MESSAGES = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i;

function sqliteReason(code: string): string | undefined {
  if (code === 'SQLITE_FULL') return 'disk full';
  if (code.startsWith('SQLITE_READONLY')) return 'database read-only';
  if (code.startsWith('SQLITE_IOERR')) return 'disk I/O error';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'database file cannot be opened';
  if (code.startsWith('SQLITE_BUSY')) return 'database locked too long';
  return undefined;
}

/** The codes an error carries, its own and those of the driver error Prisma wrapped. */
function codesOf(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown) => {
    if (!e || typeof e !== 'object' || seen.has(e)) return;
    seen.add(e);
    const o = e as Record<string, unknown>;
    for (const key of ['code', 'originalCode', 'kind']) if (typeof o[key] === 'string') codes.push(o[key] as string);
    visit(o.cause);
    visit((o.meta as Record<string, unknown> | undefined)?.driverAdapterError);
  };
  visit(err);
  return codes;
}

/** True when the SQLite file's folder cannot be written because its file system is read-only. */
function onReadOnlyDisk(sqliteFile: string): boolean {
  try {
    accessSync(dirname(sqliteFile), constants.W_OK);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'EROFS';
  }
}

/**
 * The StorageUnavailable an error amounts to, or undefined when it is some other failure. With the
 * SQLite file, an I/O error is checked against a read-only disk (SQLite reports a write refused by
 * a disk remounted read-only as SQLITE_IOERR_WRITE, not SQLITE_READONLY).
 */
export function storageUnavailable(err: unknown, sqliteFile?: string): StorageUnavailable | undefined {
  // Already classified, possibly wrapped by a layer above (oidc-provider's 503 keeps it as its cause).
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof StorageUnavailable) return e;
  const codes = codesOf(err);
  for (const code of codes) {
    const sqlite = sqliteReason(code);
    if (sqlite && code.startsWith('SQLITE_IOERR') && sqliteFile && onReadOnlyDisk(sqliteFile)) {
      return new StorageUnavailable(`database read-only (${code}, EROFS)`, err);
    }
    if (sqlite) return new StorageUnavailable(`${sqlite} (${code})`, err);
  }
  const unreachable = codes.find((c) => UNREACHABLE.has(c) || /^08/.test(c));
  if (unreachable) return new StorageUnavailable(`database unreachable (${unreachable})`, err);
  if (err instanceof Error && UNREACHABLE_MESSAGES.test(err.message)) return new StorageUnavailable(`database unreachable (${err.message})`, err);
  if (codes.includes('53100')) return new StorageUnavailable('database disk full (53100)', err);
  return undefined;
}

/** Rethrows environment failures as StorageUnavailable, anything else as it was. */
export function rethrowStorage(err: unknown, sqliteFile?: string): never {
  throw storageUnavailable(err, sqliteFile) ?? err;
}
