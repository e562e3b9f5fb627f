// Management API for risk decisions held for review (a sign-in or a tracked action waiting for the
// operator): approve or deny one, as `sesame actions review` and Authsignal's updateAction do
// (reviewAction: settled once, only from REVIEW_REQUIRED; audited `via management_api`). A second
// answer, or one for a decision that waits for no review, is a 409 and changes nothing. Recorded as
// reviewed by `management_api:<client id>`.
import type Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { badRequest, notFound } from '../http/errors.js';
import { reviewAction } from '../passwordless/action-reviews.js';
import { findDecisionById } from '../storage/action-decisions.js';
import { storable } from '../storage/db.js';
import { managementClientOf } from './admin-auth.js';

export function actionReviewRoutes(router: Router, s: Pick<Services, 'db'>): void {
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' });

  router.post('/actions/:decisionId/review', json, async function reviewDecision(ctx) {
    const decision = (ctx.request.body as Record<string, unknown> | undefined)?.decision;
    if (decision !== 'approve' && decision !== 'deny') throw badRequest('decision must be "approve" or "deny".');
    const id = ctx.params.decisionId!;
    const row = storable(id) ? await findDecisionById(s.db, id) : null;
    if (!row) throw notFound('No decision with this id.');
    const by = { via: 'management_api' as const, reviewedBy: `management_api:${managementClientOf(ctx)}`, ip: ctx.ip };
    const settled = await reviewAction(s.db, row, decision === 'approve' ? 'REVIEW_SUCCEEDED' : 'REVIEW_FAILED', by);
    if (!settled) throw new SesameError('conflict', { detail: 'This decision is not waiting for review (settled already, or never held).' });
    ctx.body = { id: settled.id, state: settled.state, reviewedBy: settled.reviewedBy };
  });
}
