// Authsignal's server API under /v1, as @authsignal/node calls it (PROTOCOLS-NEXT C.1): track an
// action, read one, list a user's, change a review, validate a challenge's result token. The tenant
// is whoever holds the secret key (HTTP Basic); every lookup is within that tenant, so another
// tenant's action, even under the same idempotency key, is simply not found. Users are the tenant's
// own ids (passwordless/action-users.ts); the risk decision is passwordless/actions.ts'.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { SesameError } from '../errors.js';
import { notFound, tooManyRequests } from '../http/errors.js';
import { noStore } from '../http/middleware.js';
import { mintActionToken } from '../passwordless/action-tokens.js';
import { validateToken } from '../passwordless/action-results.js';
import { reviewAction, type ReviewState } from '../passwordless/action-reviews.js';
import { methodsOf, trackAction } from '../passwordless/actions.js';
import { check } from '../risk/check.js';
import { TRACKS_PER_TENANT } from '../risk/limits.js';
import { findDecision, listUserDecisions, type ActionDecisionRow } from '../storage/action-decisions.js';
import type { Services } from '../services.js';
import { actionFilters, bodyObject, pathAction, pathKey, trackAttributes } from './authsignal-input.js';
import { challengePageUrl, serverApiErrors, tenantAuth, type TenantState } from './authsignal-common.js';

type ApiDeps = Pick<Services, 'db' | 'config' | 'cookieKeys'>;

const REVIEW_STATES: readonly string[] = ['REVIEW_REQUIRED', 'REVIEW_SUCCEEDED', 'REVIEW_FAILED'] satisfies ReviewState[];

const iso = (date: Date) => date.toISOString();
const tenantOf = (ctx: Context) => (ctx.state as TenantState).tenantId;

/**
 * track's answer. `url` and `token` are there whatever the state, as Authsignal's are (the SDK types
 * them as always present): the page tells an ALLOW or BLOCK that there is nothing to prove, and a
 * retried track (same idempotency key) answers the stored decision with a fresh token.
 */
async function trackAnswer(s: ApiDeps, row: ActionDecisionRow) {
  const { token } = await mintActionToken({ cookieKeys: s.cookieKeys, issuer: s.config.issuer }, 'track', row, s.config.actions.tokenTtl);
  const enrolled = row.principalId ? await methodsOf(s.db, row.principalId) : [];
  return {
    state: row.state,
    idempotencyKey: row.idempotencyKey,
    url: challengePageUrl(s.config.issuer, token),
    token,
    isEnrolled: enrolled.length > 0,
    enrolledVerificationMethods: enrolled,
    allowedVerificationMethods: JSON.parse(row.verificationMethods) as string[],
    ...(row.defaultVerificationMethod && { defaultVerificationMethod: row.defaultVerificationMethod }),
    ruleIds: JSON.parse(row.ruleIds) as string[],
  };
}

/** getAction's answer: the state, when it changed, how it was proven, the rules that matched. */
export function actionView(row: ActionDecisionRow) {
  const { matched } = JSON.parse(row.explanation) as { matched: { ruleId: string; name: string; description?: string }[] };
  return {
    state: row.state,
    stateUpdatedAt: iso(row.stateUpdatedAt),
    createdAt: iso(row.createdAt),
    ...(row.verificationMethod && { verificationMethod: row.verificationMethod }),
    rules: matched.map(({ ruleId, name, description }) => ({ ruleId, name, ...(description && { description }) })),
  };
}

/** One entry of queryUserActions. */
function listedAction(row: ActionDecisionRow) {
  return {
    actionCode: row.actionCode,
    idempotencyKey: row.idempotencyKey,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
    state: row.state,
    stateUpdatedAt: iso(row.stateUpdatedAt),
    ...(row.verificationMethod && { verificationMethod: row.verificationMethod }),
    ...(row.verifiedByAuthenticatorId && { verifiedByAuthenticatorId: row.verifiedByAuthenticatorId }),
  };
}

export function authsignalRouter(s: ApiDeps): Router {
  const router = new Router({ prefix: '/v1' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' });
  // Runs only for requests one of this router's routes matches (not the page's or client API's /v1 paths).
  router.use(serverApiErrors, noStore);
  const auth = tenantAuth(s);
  // track reads the tenant's configuration of its action with the tenant (one statement); the raw
  // path parameter, so that a bad key still answers 401 before the path is judged.
  const trackAuth = tenantAuth(s, (ctx) => ctx.params.action ?? '');

  /** The action the path names, of this tenant and this user; 404 otherwise (also another tenant's). */
  async function pathDecision(ctx: Context): Promise<ActionDecisionRow> {
    const { userId, actionCode } = pathAction(ctx);
    const row = await findDecision(s.db, tenantOf(ctx), pathKey(ctx));
    if (!row || row.userId !== userId || row.actionCode !== actionCode) throw notFound('No action with this idempotency key.');
    return row;
  }

  router.post('/users/:userId/actions/:action', trackAuth, json, async function track(ctx) {
    const tenantId = tenantOf(ctx);
    const { userId, actionCode } = pathAction(ctx) as { userId: string; actionCode: string };
    const attributes = trackAttributes(bodyObject(ctx));
    const limited = await check(s.db, TRACKS_PER_TENANT, [tenantId], s.config.actions);
    if (limited.kind !== 'allow') throw tooManyRequests(limited.retryAfter, `Too many actions tracked; wait ${limited.retryAfter} s.`);
    // The app calls from its backend, so the user's address is the one it sends; else the caller's.
    const { ipAddress, ...rest } = attributes;
    const storedPolicy = (ctx.state as TenantState).storedPolicy;
    const tracked = await trackAction(s, { tenantId, userId, actionCode, ip: ipAddress ?? ctx.ip, storedPolicy, ...rest });
    if (!tracked.created && (tracked.row.userId !== userId || tracked.row.actionCode !== actionCode)) {
      throw new SesameError('conflict', { detail: 'This idempotencyKey was already used for another user or action.' });
    }
    ctx.body = await trackAnswer(s, tracked.row);
  });

  router.get('/users/:userId/actions/:action/:idempotencyKey', auth, async function getAction(ctx) {
    ctx.body = actionView(await pathDecision(ctx));
  });

  router.get('/users/:userId/actions', auth, async function queryUserActions(ctx) {
    const { userId } = pathAction(ctx);
    const rows = await listUserDecisions(s.db, { tenantId: tenantOf(ctx), userId, ...actionFilters(ctx.query) });
    ctx.body = rows.map(listedAction);
  });

  router.patch('/users/:userId/actions/:action/:idempotencyKey', auth, json, async function updateAction(ctx) {
    const row = await pathDecision(ctx);
    const { state } = bodyObject(ctx);
    if (typeof state !== 'string' || !REVIEW_STATES.includes(state)) throw new SesameError('invalidRequest', { detail: `state must be one of ${REVIEW_STATES.join(', ')}.` });
    const updated = await reviewAction(s.db, row, state as ReviewState, { via: 'api', reviewedBy: `api:${tenantOf(ctx)}`, ip: ctx.ip });
    if (!updated) {
      const from = state === 'REVIEW_REQUIRED' ? 'ALLOW, CHALLENGE_REQUIRED, CHALLENGE_SUCCEEDED or CHALLENGE_FAILED' : 'REVIEW_REQUIRED';
      throw new SesameError('conflict', { detail: `The action is not in a state that can become ${state} (only from ${from}).` });
    }
    ctx.body = actionView(updated);
  });

  router.post('/validate', auth, json, async function validate(ctx) {
    ctx.body = await validateToken({ cookieKeys: s.cookieKeys, issuer: s.config.issuer, db: s.db, config: s.config }, tenantOf(ctx), bodyObject(ctx));
  });

  return router;
}
