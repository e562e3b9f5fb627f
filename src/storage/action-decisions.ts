// Tracked actions and their decisions (risk actions). The idempotency key is unique per tenant, so
// two parallel tracks with one key store one decision and both answer it.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import type { ActionDecision as ActionDecisionModel } from './generated/sqlite/client.js';
import { outboxRow, type OutgoingMessage } from './outbox.js';
import { columnList, readDate, sqlStatement, type RawRow } from './sql.js';
import { decisions } from '../metrics/registry.js';

export interface ActionDecisionRow {
  id: string;
  tenantId: string;
  userId: string;
  actionCode: string;
  idempotencyKey: string;
  outcome: string;
  state: string;
  ruleIds: string;
  explanation: string;
  ip: string | null;
  deviceId: string | null;
  principalId: string | null;
  /** JSON array of Authsignal method names. */
  verificationMethods: string;
  defaultVerificationMethod: string | null;
  verificationMethod: string | null;
  verifiedByAuthenticatorId: string | null;
  redirectUrl: string | null;
  /** JSON object: email, phoneNumber, username, locale, userAgent given to track. */
  context: string;
  country: string | null;
  latitude: number | null;
  longitude: number | null;
  resultTokenId: string | null;
  validatedAt: Date | null;
  interactionUid: string | null;
  reviewedBy: string | null;
  stateUpdatedAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

type Defaulted = 'verificationMethod' | 'verifiedByAuthenticatorId' | 'resultTokenId' | 'validatedAt' | 'reviewedBy' | 'stateUpdatedAt';
export type NewActionDecision = Omit<ActionDecisionRow, 'id' | 'createdAt' | 'updatedAt' | Defaulted> & Partial<Pick<ActionDecisionRow, Defaulted>>;

// A track's own statements run on prepared SQL (sql.ts): through Prisma the ~11 statements of a
// track were a third of its CPU (issue 18). The row's columns, in the order of INSERT_DECISION.
const COLUMNS = [
  'id',
  'tenantId',
  'userId',
  'actionCode',
  'idempotencyKey',
  'outcome',
  'state',
  'ruleIds',
  'explanation',
  'ip',
  'deviceId',
  'principalId',
  'verificationMethods',
  'defaultVerificationMethod',
  'verificationMethod',
  'verifiedByAuthenticatorId',
  'redirectUrl',
  'context',
  'country',
  'latitude',
  'longitude',
  'resultTokenId',
  'validatedAt',
  'interactionUid',
  'reviewedBy',
  'stateUpdatedAt',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof ActionDecisionRow & keyof ActionDecisionModel)[];
type RawDecision = RawRow<ActionDecisionModel, (typeof COLUMNS)[number]>;

// ON CONFLICT DO NOTHING: a parallel track with the same key stored first; no row changes, and the
// caller reads that one (no failed statement, so nothing aborts on PostgreSQL).
export const INSERT_DECISION = sqlStatement(
  `INSERT INTO "ActionDecision" (${columnList<ActionDecisionModel>(COLUMNS)}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ` +
    'ON CONFLICT ("tenantId", "idempotencyKey") DO NOTHING',
);
export const FIND_DECISION = sqlStatement<RawDecision>(`SELECT ${columnList<ActionDecisionModel>(COLUMNS)} FROM "ActionDecision" WHERE "tenantId" = ? AND "idempotencyKey" = ?`);

const PASSED = "('ALLOW', 'CHALLENGE_SUCCEEDED', 'REVIEW_SUCCEEDED')";
// The history facts of a track in one round trip: each part runs only when asked (a CASE runs its
// sub-select only when its condition holds), each on its own index.
export const HISTORY = sqlStatement<{ user_count: number | string | null; ip_count: number | string | null; device_seen: number | null }>(
  'SELECT ' +
    'CASE WHEN ? THEN (SELECT COUNT(*) FROM "ActionDecision" WHERE "tenantId" = ? AND "userId" = ? AND "actionCode" = ? AND "createdAt" >= ?) END AS user_count, ' +
    'CASE WHEN ? THEN (SELECT COUNT(*) FROM "ActionDecision" WHERE "tenantId" = ? AND "actionCode" = ? AND "ip" = ? AND "createdAt" >= ?) END AS ip_count, ' +
    `CASE WHEN ? THEN (SELECT 1 FROM "ActionDecision" WHERE "tenantId" = ? AND "userId" = ? AND "deviceId" = ? AND "state" IN ${PASSED} LIMIT 1) END AS device_seen`,
);

function decisionOf(raw: RawDecision): ActionDecisionRow {
  return {
    ...raw,
    latitude: raw.latitude === null ? null : Number(raw.latitude),
    longitude: raw.longitude === null ? null : Number(raw.longitude),
    validatedAt: readDate(raw.validatedAt),
    stateUpdatedAt: readDate(raw.stateUpdatedAt)!,
    createdAt: readDate(raw.createdAt)!,
    updatedAt: readDate(raw.updatedAt)!,
  };
}

/** What a track's facts read from earlier decisions; only the parts `asked` are looked up (undefined otherwise). */
export interface History {
  userCount?: number;
  ipCount?: number;
  deviceKnown?: boolean;
}

/**
 * In one statement: how many actions of `actionCode` the tenant tracked since `since` for this user
 * and from this address, and whether the user had an allowed (or passed) action from this device.
 */
export async function actionHistory(
  db: Db,
  where: { tenantId: string; userId: string; actionCode: string; ip: string; deviceId: string | null; since: Date },
  asked: { userCount: boolean; ipCount: boolean; deviceKnown: boolean },
): Promise<History> {
  const { tenantId, userId, actionCode, ip, since } = where;
  const device = asked.deviceKnown && where.deviceId !== null;
  const row = await db.sql.one(HISTORY, [
    asked.userCount,
    tenantId,
    userId,
    actionCode,
    since,
    asked.ipCount,
    tenantId,
    actionCode,
    ip,
    since,
    device,
    tenantId,
    userId,
    where.deviceId ?? '',
  ]);
  return {
    ...(asked.userCount && { userCount: Number(row?.user_count ?? 0) }),
    ...(asked.ipCount && { ipCount: Number(row?.ip_count ?? 0) }),
    ...(asked.deviceKnown && { deviceKnown: device && row?.device_seen !== null && row?.device_seen !== undefined }),
  };
}

/** What is stored with a new decision (Sesame's own sign-ins). */
export interface DecisionExtras {
  /** A message about it (the review webhook), enqueued in the same transaction: neither lost to a crash between the two nor doubled. */
  notice?: (row: ActionDecisionRow) => OutgoingMessage | null;
  /**
   * For a REVIEW_REQUIRED decision under this key prefix (API sign-ins): when the user already has
   * one held for the same tenant, action and address, that one instead. Parallel first attempts
   * queue on the user's row, so the later sees the earlier's.
   */
  heldOnce?: string;
}

/** Stores a decision; when the tenant already has one under this idempotency key, that one instead. */
export async function insertDecision(db: Db, row: NewActionDecision, now = new Date(), extras: DecisionExtras = {}): Promise<{ row: ActionDecisionRow; created: boolean }> {
  const data = { ...row, id: randomUUID(), stateUpdatedAt: now, createdAt: now, updatedAt: now };
  const full: ActionDecisionRow = { verificationMethod: null, verifiedByAuthenticatorId: null, resultTokenId: null, validatedAt: null, reviewedBy: null, ...data };
  const { notice, heldOnce } = extras;
  const guarded = heldOnce !== undefined && row.state === 'REVIEW_REQUIRED' && row.principalId !== null && row.ip !== null;
  // The notice is about the row as it will be stored; most decisions (every ALLOW) have none, and
  // then the decision is one prepared insert rather than a transaction.
  const message = notice?.(full) ?? null;
  let done: { row: ActionDecisionRow; created: boolean };
  try {
    done =
      !message && !guarded
        ? await insertPlain(db, full)
        : await db.prisma.$transaction(async (tx) => {
            if (guarded) {
              await tx.user.updateMany({ where: { id: row.principalId! }, data: { updatedAt: now } });
              const where = {
                tenantId: row.tenantId,
                userId: row.userId,
                actionCode: row.actionCode,
                ip: row.ip,
                state: 'REVIEW_REQUIRED',
                idempotencyKey: { startsWith: heldOnce },
              };
              const held = await tx.actionDecision.findFirst({ where, orderBy: { createdAt: 'asc' } });
              if (held) return { row: held, created: false };
            }
            const stored = await tx.actionDecision.create({ data });
            if (message) await tx.outboxMessage.create({ data: outboxRow(message) });
            return { row: stored, created: true };
          });
  } catch (err) {
    // A unique violation: a parallel track with this key stored its decision first.
    const stored = await findDecision(db, row.tenantId, row.idempotencyKey);
    if (!stored) throw err;
    return { row: stored, created: false };
  }
  // Counted once per stored decision: a repeated idempotency key (or a review already held) answers the first without a count.
  if (done.created) decisions.inc({ outcome: done.row.outcome });
  return done;
}

/** A decision with nothing stored beside it: one prepared INSERT; the key's earlier decision when it had one. */
async function insertPlain(db: Db, full: ActionDecisionRow) {
  if (
    (await db.sql.run(
      INSERT_DECISION,
      COLUMNS.map((column) => full[column]),
    )) === 1
  )
    return { row: full, created: true };
  const stored = await findDecision(db, full.tenantId, full.idempotencyKey);
  if (!stored) throw new Error('A decision was neither stored nor found under its idempotency key.');
  return { row: stored, created: false };
}

export async function findDecision(db: Db, tenantId: string, idempotencyKey: string): Promise<ActionDecisionRow | null> {
  const row = await db.sql.one(FIND_DECISION, [tenantId, idempotencyKey]);
  return row ? decisionOf(row) : null;
}

/** Decisions older than the retention period. */
export async function sweepDecisions(db: Db, before: Date): Promise<number> {
  return (await db.prisma.actionDecision.deleteMany({ where: { createdAt: { lt: before } } })).count;
}

export function findDecisionById(db: Db, id: string): Promise<ActionDecisionRow | null> {
  return db.prisma.actionDecision.findUnique({ where: { id } });
}

/** The decision holding this hosted sign-in (Sesame's own sign-ins), newest first. */
export function findDecisionByInteraction(db: Db, interactionUid: string): Promise<ActionDecisionRow | null> {
  return db.prisma.actionDecision.findFirst({ where: { interactionUid }, orderBy: { createdAt: 'desc' } });
}

/** A user's actions for the tenant, newest first (Authsignal's queryUserActions). */
export function listUserDecisions(
  db: Db,
  where: { tenantId: string; userId: string; since?: Date; actionCodes?: string[]; state?: string },
  take = 100,
): Promise<ActionDecisionRow[]> {
  return db.prisma.actionDecision.findMany({
    where: {
      tenantId: where.tenantId,
      userId: where.userId,
      ...(where.since ? { createdAt: { gte: where.since } } : {}),
      ...(where.actionCodes?.length ? { actionCode: { in: where.actionCodes } } : {}),
      ...(where.state ? { state: where.state } : {}),
    },
    orderBy: { createdAt: 'desc' },
    take,
  });
}

/** Decisions across tenants for operators (CLI, console), newest first. */
export function listDecisions(db: Db, where: { tenantId?: string; state?: string; userId?: string }, take = 50, skip = 0): Promise<ActionDecisionRow[]> {
  return db.prisma.actionDecision.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take, skip });
}

/**
 * Moves a decision from one of `from` to `to` (with the fields given), only if it is still in one of
 * `from`: two parallel transitions (two challenge passes, approve against deny) change it once.
 * True when this call made the change.
 */
export async function transitionDecision(
  db: Db,
  id: string,
  from: readonly string[],
  to: string,
  fields: Partial<Pick<ActionDecisionRow, 'verificationMethod' | 'verifiedByAuthenticatorId' | 'resultTokenId' | 'reviewedBy'>> = {},
  now = new Date(),
): Promise<boolean> {
  const { count } = await db.prisma.actionDecision.updateMany({ where: { id, state: { in: [...from] } }, data: { ...fields, state: to, stateUpdatedAt: now, updatedAt: now } });
  return count === 1;
}

/** Marks the decision's result token `jti` as validated; false when it was already (a replay) or is not its token. */
export async function spendResultToken(db: Db, id: string, jti: string, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.actionDecision.updateMany({ where: { id, resultTokenId: jti, validatedAt: null }, data: { validatedAt: now } });
  return count === 1;
}

/** The user's newest allowed (or passed) action with a place, for impossible travel. */
export function lastPlacedDecision(db: Db, tenantId: string, userId: string): Promise<Pick<ActionDecisionRow, 'latitude' | 'longitude' | 'country' | 'createdAt'> | null> {
  return db.prisma.actionDecision.findFirst({
    where: { tenantId, userId, latitude: { not: null }, state: { in: ['ALLOW', 'CHALLENGE_SUCCEEDED', 'REVIEW_SUCCEEDED'] } },
    orderBy: { createdAt: 'desc' },
    select: { latitude: true, longitude: true, country: true, createdAt: true },
  });
}

/** Every decision of one of the tenant's users (the users API's delete); how many went. */
export async function deleteUserDecisions(db: Db, tenantId: string, userId: string): Promise<number> {
  return (await db.prisma.actionDecision.deleteMany({ where: { tenantId, userId } })).count;
}

/** The tenant's own id for the Sesame user `principalId`, from its newest decision (null when none is kept). */
export async function appUserIdOf(db: Db, tenantId: string, principalId: string): Promise<string | null> {
  const row = await db.prisma.actionDecision.findFirst({ where: { tenantId, principalId }, orderBy: { createdAt: 'desc' }, select: { userId: true } });
  return row?.userId ?? null;
}

/**
 * The newest decision of an API sign-in (idempotency key under `keyPrefix`) of this user, client,
 * action and address that still speaks for a retry: held for review (at any age: expired, it then
 * counts as denied), denied since `since`, or approved since `since` and not yet used.
 */
export function findGrantReview(
  db: Db,
  where: { tenantId: string; userId: string; actionCode: string; ip: string },
  keyPrefix: string,
  since: Date,
): Promise<ActionDecisionRow | null> {
  return db.prisma.actionDecision.findFirst({
    where: {
      ...where,
      idempotencyKey: { startsWith: keyPrefix },
      OR: [
        { state: 'REVIEW_REQUIRED' },
        { state: 'REVIEW_FAILED', stateUpdatedAt: { gte: since } },
        { state: 'REVIEW_SUCCEEDED', validatedAt: null, stateUpdatedAt: { gte: since } },
      ],
    },
    orderBy: { createdAt: 'desc' },
  });
}

/** Uses an approval (REVIEW_SUCCEEDED since `since`, unused): true for exactly one of any parallel callers. */
export async function useApproval(db: Db, id: string, since: Date, now = new Date()): Promise<boolean> {
  const { count } = await db.prisma.actionDecision.updateMany({
    where: { id, state: 'REVIEW_SUCCEEDED', validatedAt: null, stateUpdatedAt: { gte: since } },
    data: { validatedAt: now, updatedAt: now },
  });
  return count === 1;
}

/** The decisions about one Sesame account (its principal id) across tenants, newest first: the console's user page. */
export function listPrincipalDecisions(db: Db, principalId: string, take = 20): Promise<ActionDecisionRow[]> {
  return db.prisma.actionDecision.findMany({ where: { principalId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take });
}
