// Reviews of tracked actions by the tenant (Authsignal's updateAction) or an operator (`sesame actions
// review`): settle a REVIEW_REQUIRED decision once (approve against deny: one wins), or hold an
// action for review after the fact, as Authsignal's API allows. Each change is audited with who made
// it; the signins helper watches the state of a held Sesame sign-in and continues it from there.
import { recordAudit } from '../storage/audit.js';
import { findDecisionById, transitionDecision, type ActionDecisionRow } from '../storage/action-decisions.js';
import type { Db } from '../storage/db.js';
import { settleReview } from './action-results.js';

/** The states from which an action may be put up for review (BLOCK is final; a review is reviewed once). */
export const REVIEWABLE_FROM = ['ALLOW', 'CHALLENGE_REQUIRED', 'CHALLENGE_SUCCEEDED', 'CHALLENGE_FAILED'] as const;

/** Who changes a review: `via` is `api`, `cli`, `management_api` or `console` (an admin: `reviewedBy` is `admin:<user id>`); `reviewedBy` is stored on the decision and, from the console, in the audit. */
export interface Reviewer {
  via: 'api' | 'cli' | 'management_api' | 'console';
  reviewedBy: string;
  ip?: string | null;
}

export type ReviewState = 'REVIEW_REQUIRED' | 'REVIEW_SUCCEEDED' | 'REVIEW_FAILED';

/**
 * Moves `row` to `state` when it may go there: REVIEW_SUCCEEDED / REVIEW_FAILED only from
 * REVIEW_REQUIRED, REVIEW_REQUIRED only from REVIEWABLE_FROM. Returns the updated row, or null when
 * it was not in a state it may leave that way (settled already, a parallel review won, blocked).
 */
export async function reviewAction(db: Db, row: ActionDecisionRow, state: ReviewState, by: Reviewer, now = new Date()): Promise<ActionDecisionRow | null> {
  const moved =
    state === 'REVIEW_REQUIRED'
      ? await transitionDecision(db, row.id, REVIEWABLE_FROM, 'REVIEW_REQUIRED', { reviewedBy: null }, now)
      : await settleReview(db, row, state === 'REVIEW_SUCCEEDED', by.reviewedBy, now);
  if (!moved) return null;
  const type = { REVIEW_REQUIRED: 'action.review.requested', REVIEW_SUCCEEDED: 'action.review.approved', REVIEW_FAILED: 'action.review.denied' }[state];
  // From the console the admin is named in the audit too (the user column is the held user's).
  const reason = by.via === 'console' ? `via console by ${by.reviewedBy}` : `via ${by.via}`;
  await recordAudit(db, { type, clientId: row.tenantId, userId: row.principalId, identifier: row.id, ip: by.ip ?? null, reason }, now);
  return findDecisionById(db, row.id);
}
