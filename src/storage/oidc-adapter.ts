// oidc-provider's storage adapter: every model in one table keyed by (model, id).
// Clients are the exception: they come from the Client table that `sesame clients add` fills.
import type { AdapterPayload } from 'oidc-provider';
import type { Db } from './db.js';
import { findClientMetadata } from './clients.js';
import type { OidcPayload } from './generated/sqlite/client.js';
import { CONSUME_PAYLOAD, consumeAndUpsert, DELETE_GRANT_PAYLOADS, DELETE_PAYLOAD, UPSERT_PAYLOAD, upsertRows } from './payload-writes.js';
import { readBatcher } from './read-batch.js';
import { readDate, sqlStatement, type Param, type RawRow } from './sql.js';
import { USER_COLUMNS, userOf, type User, type UserRow } from './users.js';

type PayloadRow = RawRow<OidcPayload, 'payload' | 'consumedAt' | 'expiresAt'>;

function toPayload(row: PayloadRow | undefined, now: number) {
  if (!row) return undefined;
  const expiresAt = readDate(row.expiresAt);
  if (expiresAt && expiresAt.getTime() <= now) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  const consumedAt = readDate(row.consumedAt);
  if (consumedAt) payload.consumed = Math.floor(consumedAt.getTime() / 1000);
  return payload;
}

// Every call here runs on token, userinfo and introspection requests, hence sql.ts, not Prisma.
const SELECT = 'SELECT "payload", "consumedAt", "expiresAt" FROM "OidcPayload" WHERE "model" = ? AND';
export const FIND_PAYLOAD = sqlStatement<PayloadRow>(`${SELECT} "id" = ?`);
export const FIND_PAYLOAD_BY_UID = sqlStatement<PayloadRow>(`${SELECT} "uid" = ? LIMIT 1`);
export const FIND_PAYLOAD_BY_USER_CODE = sqlStatement<PayloadRow>(`${SELECT} "userCode" = ? LIMIT 1`);
// A row held back (withDeferredTokenWrites) is the upsert's params: these are where it keeps its columns.
const [MODEL, ID, USER_CODE, UID] = [0, 1, 4, 5];

/** What every request holds back: the tokens it issues. */
const TOKEN_WRITES: ReadonlySet<string> = new Set(['AccessToken', 'RefreshToken']);
/**
 * What an authorization request holds back too (its resume after a sign-in's interaction above all):
 * the session, the grant and the code it hands out, each its own statement otherwise.
 */
export const SIGN_IN_WRITES: ReadonlySet<string> = new Set([...TOKEN_WRITES, 'Session', 'Grant', 'AuthorizationCode']);
/** What the response hands to the client: useless, so never written, if the request fails instead. */
const HANDED_OUT = new Set(['AccessToken', 'RefreshToken', 'AuthorizationCode']);

/** What a request holds back (withDeferredTokenWrites, withHeldConsume). */
interface Pending {
  /** The models whose upserts it holds back. */
  models: ReadonlySet<string>;
  /** Their upserts by `<model> <id>`. */
  rows: Map<string, Param[]>;
  /** Its held consume's params; null while it may hold one, absent when it may not. */
  consume?: Param[] | null;
}
const pendingWrites = new WeakMap<object, Pending>();

/** A held consume lost to another request's (withHeldConsume): the token was used already. */
export class ConsumeLost extends Error {
  constructor(
    readonly model: string,
    readonly id: string,
  ) {
    super(`${model} already consumed`);
  }
}

/** Writes what `request` held back; it goes on holding back (`rearm`) or writes the rest at once. */
async function flushPending(db: Db, request: object, rearm: boolean): Promise<void> {
  const pending = pendingWrites.get(request);
  if (!pending) return;
  const rows = [...pending.rows.values()];
  const consume = pending.consume;
  if (rearm) pendingWrites.set(request, { models: pending.models, rows: new Map(), ...(consume !== undefined && { consume: null }) });
  else pendingWrites.delete(request);
  if (consume) {
    const lost = () => new ConsumeLost(consume[1] as string, consume[2] as string);
    if (!(await consumeAndUpsert(db, consume, rows))) throw lost();
    return;
  }
  await upsertRows(db, rows);
}

/**
 * Runs `handle` (oidc-provider on `request`, its Koa context) with the upserts of `models` it makes
 * held back, then writes them together, in one statement, before the response leaves: a refresh
 * saves its access and refresh tokens one after the other, an authorization (SIGN_IN_WRITES) its
 * grant, code and session. Nobody can present a code or token before its response is sent, and a
 * later write of the same request that must come after them (a consume, a destroy of a held row, a
 * revoke) writes them first, so the order stays as written. A request that fails with an exception
 * writes none of what it would have handed out (its client never got it), but its session and
 * grant still: oidc-provider saves the session even then (a sign-in kept, a logout state).
 */
export async function withDeferredTokenWrites(db: Db, request: object, handle: () => Promise<void>, models = TOKEN_WRITES): Promise<void> {
  pendingWrites.set(request, { models, rows: new Map() });
  try {
    await handle();
  } catch (err) {
    const kept = [...(pendingWrites.get(request)?.rows.values() ?? [])].filter((row) => !HANDED_OUT.has(row[MODEL] as string));
    pendingWrites.delete(request);
    // The request's own failure is its answer; a failure of these writes too would add nothing to it.
    await upsertRows(db, kept).catch(() => undefined);
    throw err;
  }
  await flushPending(db, request, false);
}

/**
 * Runs `handle` (a grant, inside withDeferredTokenWrites) with its first consume held back too, and
 * writes it with the tokens it saves when `handle` ends (or at its next other write): on PostgreSQL
 * a refresh's consume and its two new tokens are then one statement, not two round trips. A consume
 * that lost to another request's throws ConsumeLost there, with none of the tokens written, for the
 * grant to answer as the reuse it is. A `handle` that throws writes no consume either: its client
 * got no tokens and may try the old one again. SQLite has no round trip to save: consumes run at once.
 */
export async function withHeldConsume(db: Db, request: object, handle: () => Promise<void>): Promise<void> {
  const pending = pendingWrites.get(request);
  if (db.provider !== 'postgresql' || !pending) return handle();
  pending.consume = null;
  const stopHolding = () => {
    const now = pendingWrites.get(request);
    if (now) delete now.consume;
  };
  try {
    await handle();
  } catch (err) {
    stopHolding();
    throw err;
  }
  try {
    await flushPending(db, request, true);
  } finally {
    stopHolding();
  }
}

// A token request reads the token, then the session it is bound to, its grant and its user, one
// statement each: on PostgreSQL each is a round trip (about 0.1 ms of the server's one thread). So
// the first find of a token id reads them all in one joined statement, on one snapshot, and the
// finds that follow in the same request take them from a memo that lives on the request's Koa
// context and goes with it: nothing outlives the request, so a revocation on any instance counts
// from the next request on. The token's models share the id space, and introspection asks
// for AccessToken and ClientCredentials at once, so one read answers them all. A code's redemption
// reads its code, session, grant and user so too.
const TOKEN_MODELS = ['AccessToken', 'ClientCredentials', 'RefreshToken', 'AuthorizationCode'];
type Nullable<T> = { [K in keyof T]: T[K] | null };
type TokenRow = PayloadRow & {
  token_id: string;
  model: string;
  grantId: string | null;
  session_uid: string | null;
  session_payload: string | null;
  session_consumed_at: PayloadRow['consumedAt'];
  session_expires_at: PayloadRow['expiresAt'];
  grant_payload: string | null;
  grant_consumed_at: PayloadRow['consumedAt'];
  grant_expires_at: PayloadRow['expiresAt'];
  grant_account_id: string | null;
} & Nullable<UserRow>;
// The related rows' columns come back under bare snake_case names: no column of any table is called so.
const IS_TOKEN_MODEL = `"model" IN (${TOKEN_MODELS.map((model) => `'${model}'`).join(', ')})`;
const tokenWithRelated = (sessionUid: string, tokens: string) =>
  `SELECT t."id" AS token_id, t."model", t."payload", t."consumedAt", t."expiresAt", t."grantId", ${sessionUid} AS session_uid, ` +
  's."payload" AS session_payload, s."consumedAt" AS session_consumed_at, s."expiresAt" AS session_expires_at, ' +
  'g."payload" AS grant_payload, g."consumedAt" AS grant_consumed_at, g."expiresAt" AS grant_expires_at, g."accountId" AS grant_account_id, ' +
  `${USER_COLUMNS.map((column) => `u."${column}"`).join(', ')} FROM ${tokens} ` +
  `LEFT JOIN "OidcPayload" AS s ON s."model" = 'Session' AND s."uid" = ${sessionUid} ` +
  `LEFT JOIN "OidcPayload" AS g ON g."model" = 'Grant' AND g."id" = t."grantId" ` +
  'LEFT JOIN "User" AS u ON u."id" = g."accountId"';
// The session uid sits in the token's JSON payload only: each engine reads it its own way.
export const FIND_TOKEN_WITH_RELATED_SQLITE = sqlStatement<TokenRow>(
  `${tokenWithRelated(`json_extract(t."payload", '$.sessionUid')`, '"OidcPayload" AS t')} WHERE t."id" = ? AND t.${IS_TOKEN_MODEL}`,
  ['sqlite'],
);
// On PostgreSQL one statement reads the tokens of every request waiting (storage/read-batch.ts).
// Each id is looked up on its own, by primary key: a subquery with a LIMIT stays a nested loop over
// the ids, whatever the statistics (`"id" = ANY(...)` planned generically, on a table without
// statistics, read the keys of every token).
export const FIND_TOKENS_WITH_RELATED_POSTGRES = sqlStatement<TokenRow>(
  tokenWithRelated(
    `(t."payload"::json ->> 'sessionUid')`,
    `unnest(?::text[]) AS k(id) CROSS JOIN LATERAL (SELECT x."id", x."model", x."payload", x."consumedAt", x."expiresAt", x."grantId" FROM "OidcPayload" AS x ` +
      `WHERE x."id" = k.id AND x.${IS_TOKEN_MODEL} LIMIT ${TOKEN_MODELS.length}) AS t`,
  ),
  ['postgresql'],
);

/** What one request has read along with a token: rows by `<model> <id>` or `Session uid <uid>`, users by id; null for none. */
interface Memo {
  /** The joined read of each token id, its rows by model; a promise, so parallel finds share it. */
  tokens: Map<string, Promise<Map<string, PayloadRow>>>;
  rows: Map<string, PayloadRow | null>;
  users: Map<string, User | null>;
}
const memos = new WeakMap<object, Memo>();

/** The user read along with the request's token: a User, null when the grant's account is gone, undefined when not read. */
export function prefetchedUser(request: object | undefined, id: string): User | null | undefined {
  return request ? memos.get(request)?.users.get(id) : undefined;
}

function related(memo: Memo, row: TokenRow): void {
  if (row.session_uid !== null) {
    const session = row.session_payload === null ? null : { payload: row.session_payload, consumedAt: row.session_consumed_at, expiresAt: row.session_expires_at };
    memo.rows.set(`Session uid ${row.session_uid}`, session);
  }
  if (row.grantId === null) return;
  if (row.grant_payload === null) {
    memo.rows.set(`Grant ${row.grantId}`, null);
    return;
  }
  memo.rows.set(`Grant ${row.grantId}`, { payload: row.grant_payload, consumedAt: row.grant_consumed_at, expiresAt: row.grant_expires_at });
  if (row.grant_account_id !== null) memo.users.set(row.grant_account_id, row.id === null ? null : userOf(row as UserRow));
}

/** A held-back upsert's params as the row it will be. */
function heldRow(row: Param[] | undefined): PayloadRow | undefined {
  return row ? { payload: row[2] as string, consumedAt: null, expiresAt: row[6] as Date | null } : undefined;
}

/** The rows of a token id with its related rows: SQLite reads each at once; PostgreSQL batches them (read-batch.ts). */
function tokenReader(db: Db): (id: string) => Promise<TokenRow[]> {
  if (db.provider === 'sqlite') return (id) => db.sql.all(FIND_TOKEN_WITH_RELATED_SQLITE, [id]);
  return readBatcher(async (ids) => {
    const byId = new Map<string, TokenRow[]>();
    for (const row of await db.sql.all(FIND_TOKENS_WITH_RELATED_POSTGRES, [ids])) byId.set(row.token_id, [...(byId.get(row.token_id) ?? []), row]);
    return byId;
  });
}

/**
 * The memo of the request in progress on `db` (`currentRequest`: oidc-provider's Provider.ctx).
 * Each lookup answers undefined when it has nothing to say: outside a request, or a row not read along.
 */
function requestMemo(db: Db, currentRequest: () => object | undefined) {
  const readRows = tokenReader(db);
  async function read(memo: Memo, id: string): Promise<Map<string, PayloadRow>> {
    const byModel = new Map<string, PayloadRow>();
    for (const row of await readRows(id)) {
      if (byModel.has(row.model)) continue;
      byModel.set(row.model, row);
      related(memo, row);
    }
    return byModel;
  }
  return {
    /** Holds back an upsert when the request holds back its model's; true when it did. */
    defer(model: string, id: string, row: Param[]): boolean {
      const request = currentRequest();
      const pending = request && pendingWrites.get(request);
      if (!pending?.models.has(model)) return false;
      pending.rows.set(`${model} ${id}`, row);
      return true;
    },
    /** The request's own held-back upsert of `model` whose column `column` (ID, UID, USER_CODE) is `value`, as the row it will be. */
    pending(model: string, column: number, value: string): PayloadRow | undefined {
      const request = currentRequest();
      const rows = request && pendingWrites.get(request)?.rows;
      if (column === ID) return heldRow(rows?.get(`${model} ${value}`));
      for (const row of rows?.values() ?? []) if (row[MODEL] === model && row[column] === value) return heldRow(row);
      return undefined;
    },
    /** Holds back a consume when the request may hold one (withHeldConsume) and holds no upsert of its row; true when it did. */
    hold(row: Param[]): boolean {
      const request = currentRequest();
      const pending = request && pendingWrites.get(request);
      if (pending?.consume !== null || pending.rows.has(`${row[1]} ${row[2]}`)) return false;
      pending.consume = row;
      return true;
    },
    /**
     * Writes what the request held back, before a write that must come after it: always before a
     * revoke; before a consume or delete of row (`model`, `id`) only when that row is held or a consume
     * is (which may be of it). One of another row may come first (a resume's delete of the session it
     * replaces): a statement fewer.
     */
    async flush(model?: string, id?: string): Promise<void> {
      const request = currentRequest();
      const pending = request && pendingWrites.get(request);
      if (pending && (model === undefined || pending.rows.has(`${model} ${id}`) || pending.consume)) await flushPending(db, request, true);
    },
    /** A token's row (null: none), read with its session, grant and user the first time this request asks. */
    async token(model: string, id: string): Promise<PayloadRow | null | undefined> {
      const request = currentRequest();
      if (!request) return undefined;
      let memo = memos.get(request);
      if (!memo) memos.set(request, (memo = { tokens: new Map(), rows: new Map(), users: new Map() }));
      let byModel = memo.tokens.get(id);
      if (!byModel) memo.tokens.set(id, (byModel = read(memo, id)));
      return (await byModel).get(model) ?? null;
    },
    /** A row read along with a token in this request (null: read, and none). */
    row(key: string): PayloadRow | null | undefined {
      const request = currentRequest();
      return request ? memos.get(request)?.rows.get(key) : undefined;
    },
    /** Any write of the request makes what it read before stale to it. */
    forget(): void {
      const request = currentRequest();
      if (request) memos.delete(request);
    },
  };
}

/**
 * oidc-provider's adapter on `db`. `currentRequest` gives the request in progress (oidc-provider's
 * Provider.ctx) for the memo above; without it every find is its own statement.
 */
export function createAdapterClass(db: Db, currentRequest: () => object | undefined = () => undefined) {
  const { sql } = db;
  const memo = requestMemo(db, currentRequest);

  // Not `implements Adapter`: consume reports whether it consumed, which oidc/single-use.ts needs.
  return class SqlAdapter {
    constructor(readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      memo.forget();
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      // Sessions only: the account page ends a user's other sessions by this (their tokens go by grantId).
      // Sessions and grants carry their account in a column: the account page lists a user's sessions,
      // and an account taken back from a squatter loses every grant (oidc-sessions.ts).
      const accountId = this.model === 'Session' || this.model === 'Grant' ? (payload.accountId ?? null) : null;
      const row = [this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresAt, accountId];
      if (!memo.defer(this.model, id, row)) await sql.run(UPSERT_PAYLOAD, row);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return findClientMetadata(db, id);
      const held = memo.pending(this.model, ID, id);
      if (held) return toPayload(held, Date.now());
      const row = TOKEN_MODELS.includes(this.model) ? await memo.token(this.model, id) : memo.row(`${this.model} ${id}`);
      return toPayload(row === undefined ? await sql.one(FIND_PAYLOAD, [this.model, id]) : (row ?? undefined), Date.now());
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const row = memo.pending(this.model, UID, uid) ?? memo.row(`${this.model} uid ${uid}`);
      if (row !== undefined) return toPayload(row ?? undefined, Date.now());
      return toPayload(await sql.one(FIND_PAYLOAD_BY_UID, [this.model, uid]), Date.now());
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const held = memo.pending(this.model, USER_CODE, userCode);
      if (held) return toPayload(held, Date.now());
      return toPayload(await sql.one(FIND_PAYLOAD_BY_USER_CODE, [this.model, userCode]), Date.now());
    }

    /** Stamps the row consumed; true only for the one call that did (a conditional update succeeds once). */
    async consume(id: string): Promise<boolean> {
      // Held back, it is written with the request's tokens; a loss then surfaces as ConsumeLost.
      // Nothing written yet, what the request read stays true to it (the user its tokens are for).
      if (memo.hold([new Date(), this.model, id])) return true;
      memo.forget();
      await memo.flush(this.model, id);
      const changed = await sql.run(CONSUME_PAYLOAD, [new Date(), this.model, id]);
      return changed === 1;
    }

    async destroy(id: string): Promise<void> {
      memo.forget();
      await memo.flush(this.model, id);
      await sql.run(DELETE_PAYLOAD, [this.model, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      memo.forget();
      await memo.flush();
      await sql.run(DELETE_GRANT_PAYLOADS, [grantId]);
    }
  };
}

/** Deletes expired rows; returns how many went. */
export async function sweepOidcPayloads(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.oidcPayload.deleteMany({ where: { expiresAt: { lte: now } } });
  return count;
}
