// The pages of the risk stop (risk-step.ts): /interaction/:uid/review, "your sign-in is being
// reviewed" with a "Check again" link (no JavaScript), which goes on once the operator approved it
// (settleReview) and refuses once they denied it or it waited past actions.reviewTimeout; and
// /interaction/:uid/blocked, which says the sign-in was not allowed (nothing of which rule fired) and
// links back to the app through oidc-provider's resume, which answers it access_denied. Both act on
// this browser's interaction only (its cookies): another browser gets the "gone" page.
import Router from '@koa/router';
import type { Services } from '../services.js';
import { noStore } from '../http/middleware.js';
import { loginResult } from '../oidc/acr.js';
import { verdictOf } from '../passwordless/sign-in-risk.js';
import { findDecisionById } from '../storage/action-decisions.js';
import { finish, loadInteraction, render, type FlowContext, type FlowState } from './flow-context.js';
import { heldReview, RISK_DENIED } from './risk-step.js';

function backToStep(ctx: FlowContext) {
  ctx.status = 303;
  ctx.redirect(`/interaction/${ctx.state.step.details.uid}`);
}

/** GET /review: the page while the review waits; the sign-in again (decided as stored) once it is settled or expired. */
async function showReview(s: Services, ctx: FlowContext) {
  const { details } = ctx.state.step;
  const held = details.prompt.name === 'login' ? heldReview(details.result) : null;
  const row = held && (await findDecisionById(s.db, held.decisionId));
  if (!held || !row || row.interactionUid !== details.uid || row.principalId !== held.login.accountId) return backToStep(ctx);
  if (verdictOf(row, s.config.actions.reviewTimeout).kind === 'review') {
    return render(s, ctx, 'risk-review', { title: 'risk.review_title' });
  }
  // Approved, denied or expired: finish asks the risk stop again, which reads this decision.
  return finish(s, ctx, { login: loginResult(held.login.accountId, held.login.amr) }, false);
}

/** GET /blocked: shown only while the interaction holds the risk stop's access_denied. */
async function showBlocked(s: Services, ctx: FlowContext) {
  const { details } = ctx.state.step;
  const result = details.result as Record<string, unknown> | undefined;
  if (result?.[RISK_DENIED] !== true || result.error !== 'access_denied') return backToStep(ctx);
  return render(s, ctx, 'risk-blocked', { title: 'risk.blocked_title', next: details.returnTo }, 403);
}

export function riskRouter(s: Services): Router<FlowState> {
  const router = new Router<FlowState>({ prefix: '/interaction/:uid' });
  // Answered by the server every time: "Check again" must see the review's state now.
  router.use(['/review', '/blocked'], noStore);
  const load = loadInteraction(s);
  router.get('/review', load, (ctx) => showReview(s, ctx));
  router.get('/blocked', load, (ctx) => showBlocked(s, ctx));
  return router;
}
