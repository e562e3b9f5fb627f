// The writes of oidc-provider's adapter (oidc-adapter.ts) to the OidcPayload table: upserts of the
// rows a request holds back, consumes, deletes, and a refresh's consume with its new tokens, which
// on PostgreSQL goes out with those of the other refreshes waiting (read-batch.ts).
import type { Db } from './db.js';
import { statementBatcher } from './read-batch.js';
import { sqlStatement, type Param } from './sql.js';

const PAYLOAD_COLUMNS = '"model", "id", "payload", "grantId", "userCode", "uid", "expiresAt", "accountId"';
const ON_CONFLICT =
  'ON CONFLICT ("model", "id") DO UPDATE SET "payload" = excluded."payload", "grantId" = excluded."grantId", ' +
  '"userCode" = excluded."userCode", "uid" = excluded."uid", "expiresAt" = excluded."expiresAt", "accountId" = excluded."accountId"';
/** Upserts `count` rows in one statement: one round trip on PostgreSQL, one commit on either engine. */
const upsertPayloads = (count: number) =>
  sqlStatement(`INSERT INTO "OidcPayload" (${PAYLOAD_COLUMNS}) VALUES ${Array.from({ length: count }, () => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')} ${ON_CONFLICT}`);
export const UPSERT_PAYLOAD = upsertPayloads(1);
// What a request held back (a token response's access and refresh tokens; a sign-in's session, grant
// and code), written at once. A row's key is unique among them, as one statement may touch a row once.
export const UPSERT_TWO_PAYLOADS = upsertPayloads(2);
export const UPSERT_THREE_PAYLOADS = upsertPayloads(3);
export const UPSERT_FOUR_PAYLOADS = upsertPayloads(4);
/** The upserts by row count, less one: a request holds three rows at most today (a resume's); more go in parts. */
export const UPSERT_ROWS = [UPSERT_PAYLOAD, UPSERT_TWO_PAYLOADS, UPSERT_THREE_PAYLOADS, UPSERT_FOUR_PAYLOADS];
export const CONSUME_PAYLOAD = sqlStatement('UPDATE "OidcPayload" SET "consumedAt" = ? WHERE "model" = ? AND "id" = ? AND "consumedAt" IS NULL');
export const DELETE_PAYLOAD = sqlStatement('DELETE FROM "OidcPayload" WHERE "model" = ? AND "id" = ?');
export const DELETE_GRANT_PAYLOADS = sqlStatement('DELETE FROM "OidcPayload" WHERE "grantId" = ?');

/** Upserts `rows`, as few statements as the cached ones allow (one for any request's, in practice). */
export async function upsertRows(db: Db, rows: Param[][]): Promise<void> {
  for (let i = 0; i < rows.length; i += UPSERT_ROWS.length) {
    const chunk = rows.slice(i, i + UPSERT_ROWS.length);
    await db.sql.run(UPSERT_ROWS[chunk.length - 1]!, chunk.flat());
  }
}

// The consumes of refreshes (each a token to stamp consumed) with the rows each would write: a
// request's rows are written only if its consume is the one that succeeds, and `req` comes back for
// each that did. Two requests of one statement consuming one token: the UPDATE stamps the row once,
// from one of them, and returns that one. One blocked by a parallel statement's re-checks
// "consumedAt" once that commits. Either way exactly one wins. The params are arrays, one element a
// consume (its request's index, time, model, id) or a row (its request's index, then its columns).
export const CONSUME_AND_UPSERT_BATCH = sqlStatement<{ req: number }>(
  'WITH k AS (SELECT * FROM unnest(?::int[], ?::timestamp(3)[], ?::text[], ?::text[]) AS k(req, at, model, id)), ' +
    'c AS (UPDATE "OidcPayload" AS p SET "consumedAt" = k.at FROM k WHERE p."model" = k.model AND p."id" = k.id AND p."consumedAt" IS NULL RETURNING k.req), ' +
    'r AS (SELECT * FROM unnest(?::int[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamp(3)[], ?::text[]) ' +
    'AS r(req, model, id, payload, grant_id, user_code, uid, expires_at, account_id)), ' +
    `w AS (INSERT INTO "OidcPayload" (${PAYLOAD_COLUMNS}) SELECT r.model, r.id, r.payload, r.grant_id, r.user_code, r.uid, r.expires_at, r.account_id ` +
    `FROM r WHERE r.req IN (SELECT c.req FROM c) ${ON_CONFLICT}) ` +
    'SELECT req FROM c',
  ['postgresql'],
);

export interface HeldConsume {
  /** CONSUME_PAYLOAD's params: the time, the model, the id. */
  consume: Param[];
  /** Upserts' params (UPSERT_PAYLOAD's). */
  rows: Param[][];
}

/** A timestamp(3) as PostgreSQL takes it in an array: UTC, no zone (the driver turns a lone Date so, not one in an array). */
const utc = (value: Param) => (value instanceof Date ? value.toISOString().slice(0, -1) : (value as string | number | null));

/**
 * Consumes `held` in one statement; whether each won. The consumes go in the order of their rows'
 * keys, so two statements lock the rows they share in the same order: in arrival order, two
 * batches holding two tokens in turn (a client racing its own) could deadlock, and PostgreSQL's
 * answer, aborting one, would fail every other refresh of that batch.
 */
export async function consumeTogether(db: Db, held: HeldConsume[]): Promise<boolean[]> {
  const consumes: Param[][] = [[], [], [], []];
  const rows: Param[][] = Array.from({ length: 9 }, () => []);
  const key = (req: number) => `${String(held[req]!.consume[1])}\u0000${String(held[req]!.consume[2])}`;
  const byKey = held.map((_, req) => req).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a - b));
  for (const req of byKey) [req, ...held[req]!.consume].forEach((value, i) => consumes[i]!.push(utc(value)));
  held.forEach(({ rows: written }, req) => {
    for (const row of written) [req, ...row].forEach((value, i) => rows[i]!.push(utc(value)));
  });
  const won = new Set((await db.sql.all(CONSUME_AND_UPSERT_BATCH, [...consumes, ...rows] as (string | number | null)[][])).map((row) => row.req));
  return held.map((_, req) => won.has(req));
}

const batches = new WeakMap<Db, (held: HeldConsume) => Promise<boolean>>();

/**
 * Stamps a token consumed (CONSUME_PAYLOAD's `consume`) and writes `rows` only if that consume is
 * the one that succeeds; true when it did. On PostgreSQL one statement with the other refreshes
 * waiting; on SQLite (no round trip to save) the consume, then the rows.
 */
export async function consumeAndUpsert(db: Db, consume: Param[], rows: Param[][]): Promise<boolean> {
  if (db.provider === 'sqlite') {
    if ((await db.sql.run(CONSUME_PAYLOAD, consume)) !== 1) return false;
    await upsertRows(db, rows);
    return true;
  }
  let batch = batches.get(db);
  if (!batch) batches.set(db, (batch = statementBatcher((held: HeldConsume[]) => consumeTogether(db, held))));
  return batch({ consume, rows });
}
