// How a tracked action ends: a challenge passed (CHALLENGE_REQUIRED -> CHALLENGE_SUCCEEDED, with the
// method and authenticator, and a result token minted once), a challenge failed, a review settled,
// and the app's `validate` of a result token (Authsignal's validateChallenge): valid only for a
// passed challenge (or an approved review), for the token's own tenant, and only once.
import type { LoadedConfig } from '../config/load.js';
import { findDecision, spendResultToken, transitionDecision, type ActionDecisionRow } from '../storage/action-decisions.js';
import type { Db } from '../storage/db.js';
import { mintActionToken, readActionToken, type ActionTokenDeps } from './action-tokens.js';

export interface ActionResultDeps extends ActionTokenDeps {
  db: Db;
  config: Pick<LoadedConfig, 'actions'>;
}

/**
 * Marks the challenge of `row` passed with `method` (Authsignal's name) and returns the result token,
 * or null when the decision was not waiting for a challenge (already passed: a parallel pass lost).
 * `from`: the states a pass may leave (a passkey sign-in for a new action also passes an ALLOW).
 */
export async function passChallenge(
  deps: ActionResultDeps,
  row: ActionDecisionRow,
  method: string,
  authenticatorId: string | null,
  now = new Date(),
  from: readonly string[] = ['CHALLENGE_REQUIRED'],
): Promise<string | null> {
  const { token, jti } = await mintActionToken(deps, 'result', row, deps.config.actions.tokenTtl, now);
  const moved = await transitionDecision(
    deps.db,
    row.id,
    from,
    'CHALLENGE_SUCCEEDED',
    { verificationMethod: method, verifiedByAuthenticatorId: authenticatorId, resultTokenId: jti },
    now,
  );
  return moved ? token : null;
}

/** Marks the challenge of `row` failed (the user gave up or ran out of attempts); false when it was not open. */
export function failChallenge(db: Db, row: ActionDecisionRow, now = new Date()): Promise<boolean> {
  return transitionDecision(db, row.id, ['CHALLENGE_REQUIRED'], 'CHALLENGE_FAILED', {}, now);
}

/** Settles a REVIEW_REQUIRED decision; false when it was not waiting for review (settled already). */
export function settleReview(db: Db, row: ActionDecisionRow, approve: boolean, reviewedBy: string, now = new Date()): Promise<boolean> {
  return transitionDecision(db, row.id, ['REVIEW_REQUIRED'], approve ? 'REVIEW_SUCCEEDED' : 'REVIEW_FAILED', { reviewedBy }, now);
}

export interface Validation {
  isValid: boolean;
  state?: string;
  stateUpdatedAt?: string;
  userId?: string;
  actionCode?: string;
  idempotencyKey?: string;
  verificationMethod?: string;
}

/**
 * Authsignal's `validate` for `tenantId`: the action a result (or track) token names, its state, and
 * whether it proves a passed challenge. A result token of a passed challenge is valid once; the
 * track token or a replay reports the state with `isValid: false`. Another tenant's token, a bad or
 * expired one: `{isValid: false}` and nothing about the action.
 */
export async function validateToken(
  deps: ActionResultDeps,
  tenantId: string,
  body: { token?: unknown; userId?: unknown; action?: unknown },
  now = new Date(),
): Promise<Validation> {
  if (typeof body.token !== 'string') return { isValid: false };
  const read = await readActionToken(deps, 'result', body.token, now);
  const asTrack = 'problem' in read ? await readActionToken(deps, 'track', body.token, now) : read;
  if ('problem' in asTrack) return { isValid: false };
  const { claims } = asTrack;
  if (claims.tenantId !== tenantId) return { isValid: false };
  const row = await findDecision(deps.db, tenantId, claims.idempotencyKey);
  if (!row) return { isValid: false };
  const report: Validation = {
    isValid: false,
    state: row.state,
    stateUpdatedAt: row.stateUpdatedAt.toISOString(),
    userId: row.userId,
    actionCode: row.actionCode,
    idempotencyKey: row.idempotencyKey,
    ...(row.verificationMethod ? { verificationMethod: row.verificationMethod } : {}),
  };
  const mismatch = (typeof body.userId === 'string' && body.userId !== row.userId) || (typeof body.action === 'string' && body.action !== row.actionCode);
  if (claims.kind !== 'result' || mismatch || row.state !== 'CHALLENGE_SUCCEEDED') return report;
  return { ...report, isValid: await spendResultToken(deps.db, row.id, claims.jti, now) };
}
