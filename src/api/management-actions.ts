// Management API for risk decisions held for review (a sign-in or a tracked action waiting for the
// operator): approve or deny one, as `sesame actions review` and Authsignal's updateAction do
// (reviewAction: settled once, only from REVIEW_REQUIRED; audited `via management_api`). A second
// answer, or one for a decision that waits for no review, is a 409 and changes nothing. Recorded as
// reviewed by `management_api:<client id>`. A schema-driven route (management-routes.ts).
import { z } from 'zod';
import { SesameError } from '../errors.js';
import { notFound } from '../http/errors.js';
import { reviewAction } from '../passwordless/action-reviews.js';
import { findDecisionById } from '../storage/action-decisions.js';
import { storable } from '../storage/db.js';
import { managementClientOf } from './admin-auth.js';
import { route, type ManagementRoute } from './management-routes.js';

export const ACTION_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'post',
    path: '/actions/:decisionId/review',
    scope: 'actions:review',
    summary: 'Approve or deny a risk decision held for review (a sign-in waiting on its review page goes on, or is refused). Settled once.',
    params: { decisionId: 'The decision id.' },
    body: z.strictObject({ decision: z.enum(['approve', 'deny'], { error: 'must be "approve" or "deny"' }) }),
    ok: { 200: { description: 'The decision settled.', schema: z.object({ id: z.string(), state: z.enum(['REVIEW_SUCCEEDED', 'REVIEW_FAILED']), reviewedBy: z.string() }) } },
    refusals: { 400: 'decision is not "approve" or "deny".', 404: 'No decision with this id.', 409: 'The decision is not waiting for review.' },
    async handle(s, ctx, { body }) {
      const id = ctx.params.decisionId as string;
      const row = storable(id) ? await findDecisionById(s.db, id) : null;
      if (!row) throw notFound('No decision with this id.');
      const by = { via: 'management_api' as const, reviewedBy: `management_api:${managementClientOf(ctx)}`, ip: ctx.ip };
      const settled = await reviewAction(s.db, row, body.decision === 'approve' ? 'REVIEW_SUCCEEDED' : 'REVIEW_FAILED', by);
      if (!settled) throw new SesameError('conflict', { detail: 'This decision is not waiting for review (settled already, or never held).' });
      return { status: 200, body: { id: settled.id, state: settled.state as 'REVIEW_SUCCEEDED' | 'REVIEW_FAILED', reviewedBy: settled.reviewedBy! } };
    },
  }),
];
