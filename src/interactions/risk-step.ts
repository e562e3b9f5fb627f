// The risk stop of a hosted sign-in, in `finish` after the first method verified and before the MFA
// stop (passwordless/sign-in-risk.ts decides). ALLOW goes on; CHALLENGE is met by the method just
// used when it is one of the rule's, else by a second factor among them on the MFA pages (mfa-step's
// `mfaNeedOf` restricts them while the decision waits); REVIEW holds the login under RISK_REVIEW
// (no login of its own: resuming by hand finishes nothing) and shows the review page; BLOCK (and a
// denied or expired review, a challenge no method could meet) stores oidc-provider's access_denied
// and shows a page that says so and nothing of why. The decision is keyed by the interaction and
// the user, so every later step of the sign-in reads the same one.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { riskAction } from '../oidc/client-metadata.js';
import { settleReview } from '../passwordless/action-results.js';
import { challengeNeed, decideSignIn, hasSignInPolicy, hostedKey, meetChallenge, passingMethod, verdictOf } from '../passwordless/sign-in-risk.js';
import { ensureBrowserId } from './browser-id.js';
import type { ActionDecisionRow } from '../storage/action-decisions.js';
import { MFA_PENDING, mfaPath, type PendingLogin } from './mfa-step.js';

type Details = Awaited<ReturnType<Services['provider']['interactionDetails']>>;

/** The marker of a login held for review: `{ login, decisionId }`. */
export const RISK_REVIEW = 'sesameRiskReview';
/** Set with access_denied when the risk decision refused the sign-in (the blocked page shows only then). */
export const RISK_DENIED = 'sesameRiskDenied';

export const reviewPath = (uid: string) => `/interaction/${uid}/review`;
export const blockedPath = (uid: string) => `/interaction/${uid}/blocked`;

/** The login an interaction holds for review, with its decision, or null. */
export function heldReview(result: unknown): { login: PendingLogin; decisionId: string } | null {
  const marker = (result as Record<string, unknown> | undefined)?.[RISK_REVIEW] as { login?: { accountId?: unknown; amr?: unknown }; decisionId?: unknown } | undefined;
  if (typeof marker?.login?.accountId !== 'string' || typeof marker.decisionId !== 'string') return null;
  const amr = Array.isArray(marker.login.amr) ? marker.login.amr.filter((a): a is string => typeof a === 'string') : [];
  return { login: { accountId: marker.login.accountId, amr }, decisionId: marker.decisionId };
}

async function hold(s: Services, ctx: Context, result: Record<string, unknown>): Promise<void> {
  await s.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
}

/** Stores access_denied as the interaction's result: the RP gets it on resume. Returns the blocked page's path. */
export async function deny(s: Services, ctx: Context, uid: string): Promise<string> {
  await hold(s, ctx, { error: 'access_denied', error_description: 'The sign-in was not allowed.', [RISK_DENIED]: true });
  return blockedPath(uid);
}

/**
 * The risk stop for `login`: `path` null to go on (no policy, allowed, or the challenge met), else
 * the path to send the browser to, with the interaction's result set for it. `allowed`: the
 * decision that let the sign-in go on unchanged, for the MFA stop to read without a second query.
 */
export async function riskStop(s: Services, ctx: Context, details: Details, login: PendingLogin): Promise<{ path: string | null; allowed?: ActionDecisionRow }> {
  const path = await riskPath(s, ctx, details, login);
  return typeof path === 'string' || path === null ? { path } : { path: null, allowed: path };
}

/** The path of the risk stop, null, or the decision that allowed the sign-in as it stands. */
async function riskPath(s: Services, ctx: Context, details: Details, login: PendingLogin): Promise<string | null | ActionDecisionRow> {
  const clientId = String(details.params.client_id);
  const client = await s.provider.Client.find(clientId);
  const actionCode = riskAction(client?.metadata());
  // Without a policy nothing is decided, and this browser's cookies stay as the sign-in left them.
  if (!(await hasSignInPolicy(s, clientId, actionCode))) return null;
  const q = {
    clientId,
    actionCode,
    userId: login.accountId,
    amr: login.amr,
    ip: ctx.ip,
    userAgent: ctx.get('user-agent').slice(0, 300),
    deviceId: ensureBrowserId(ctx, s.config.codes.trustedBrowserTtl),
    interactionUid: details.uid,
    locale: typeof details.params.ui_locales === 'string' ? details.params.ui_locales.split(' ')[0] : null,
  };
  const decided = await decideSignIn(s, q, hostedKey(details.uid, login.accountId), true);
  if (!decided) return null;
  // A new REVIEW was logged, and its webhook stored with the decision (decideSignIn): once per decision.
  const { row } = decided;
  const verdict = verdictOf(row, s.config.actions.reviewTimeout);
  switch (verdict.kind) {
    case 'allow':
      return row;
    case 'deny':
      return deny(s, ctx, details.uid);
    case 'review-expired':
      await settleReview(s.db, row, false, 'timeout');
      return deny(s, ctx, details.uid);
    case 'review':
      await hold(s, ctx, { [RISK_REVIEW]: { login, decisionId: row.id } });
      return reviewPath(details.uid);
    case 'challenge': {
      const method = passingMethod(login.amr, verdict.methods);
      if (method) {
        await meetChallenge(s.db, row, method);
        return null;
      }
      const need = await challengeNeed(s.config, s.db, login.accountId, login.amr, verdict.methods);
      if (need.kind === 'enroll' && !need.types.length) return deny(s, ctx, details.uid);
      await hold(s, ctx, { [MFA_PENDING]: { login } });
      return mfaPath(details.uid);
    }
  }
}
