// "Seen this before?" for single-use tokens (client assertions, external assertions): a `once`
// limit of limits.ts remembers each use in the shared counters, so a replay to any instance fails.
import type { Db } from '../storage/db.js';
import { check } from './check.js';
import type { Limit } from './limits.js';

/** True for the first use of `subject` within the window of `limit`; false for every replay. */
export async function firstUse<S extends unknown[], P>(db: Db, limit: Limit<S, P, 'once'>, subject: S, settings: P): Promise<boolean> {
  return (await check(db, limit, subject, settings)).kind === 'allow';
}
