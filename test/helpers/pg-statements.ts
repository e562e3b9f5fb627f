// Counts the statements this test process sends to PostgreSQL, at the driver (pg's Client.query),
// so Prisma's and storage/sql.ts's count alike. Import it at the top of a test file: it patches the
// driver once per file (each test file has its own modules).
import pg from 'pg';

const seen: string[] = [];
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  const first = args[0] as { text?: string } | string | undefined;
  seen.push(typeof first === 'string' ? first : (first?.text ?? ''));
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

/** The statements sent since the last call (their texts), and starts counting again. */
export function takePgStatements(): string[] {
  return seen.splice(0);
}
