// Sesame's own sign-ins decided by the risk engine: after the first method verifies (hosted pages,
// the OTP grant), the client's risk action (`risk_action`, default `signIn`) is tracked with the
// Sesame user as both the tenant's user and the principal. A client whose action has no policy
// (neither stored through the rules API nor in the config file) is not tracked at all: no row, no
// fact gathering, so sign-ins without risk policies cost one indexed lookup. What a decision means
// for a sign-in (`verdictOf`) and which second factors a CHALLENGE accepts (`challengeNeed`,
// `allowsFactor`) live here, shared by the hosted stop (interactions/risk-step.ts) and the grants.
// A new REVIEW tells the operator once: the webhook enqueued with the decision row (one transaction).
// An API sign-in cannot wait on a page, so its retries find the held decision again
// (`decideGrantSignIn`): by user, client, action and address, under keys no tenant may use.
import { randomUUID } from 'node:crypto';
import type { VerificationMethod } from '../config/actions.js';
import type { FactorType } from '../config/mfa.js';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { findDecision, findDecisionById, findGrantReview, transitionDecision, useApproval, type ActionDecisionRow } from '../storage/action-decisions.js';
import { findActionConfiguration } from '../storage/action-tenants.js';
import type { Db } from '../storage/db.js';
import type { OutgoingMessage } from '../storage/outbox.js';
import { findUserById } from '../storage/users.js';
import { trackAction } from './actions.js';
import { challengeableFactors, enrolmentTypes, type MfaNeed, type MfaPolicyConfig } from './mfa/policy.js';

/** The outbox connection id of the review webhook (config actions.reviewWebhook); server.ts routes it. */
export const REVIEW_WEBHOOK = 'actions.reviewWebhook';

export interface SignInRiskDeps {
  config: Pick<LoadedConfig, 'actions'>;
  db: Db;
  /** Where a new review is logged, and the outbox worker's nudge for its webhook. */
  log: Logger;
  wakeWorker?(): void;
}

/** The idempotency keys of API sign-ins' decisions (the actions API refuses keys of this shape, authsignal-input.ts). */
export const GRANT_KEY_PREFIX = 'grant:';

/** A sign-in whose first method just verified. */
export interface SignIn {
  clientId: string;
  actionCode: string;
  /** The Sesame user (sub). */
  userId: string;
  amr: readonly string[];
  ip: string;
  userAgent?: string | null;
  /** Sesame's browser id cookie on the hosted pages; none on the API paths. */
  deviceId?: string | null;
  interactionUid?: string | null;
  locale?: string | null;
}

/** The first method of a sign-in, by its amr, as the rule variable `signIn.method` names it (null: an external login). */
export function signInMethod(amr: readonly string[]): VerificationMethod | null {
  if (amr.includes('hwk') || amr.includes('swk')) return 'PASSKEY';
  if (amr.includes('ext')) return null;
  if (amr.includes('sms')) return 'SMS';
  return amr.includes('otp') ? 'EMAIL_OTP' : 'EMAIL_MAGIC_LINK';
}

/** Whether `actionCode` has a policy for the client: its own stored configuration, or the config file's. */
export async function hasSignInPolicy(deps: SignInRiskDeps, clientId: string, actionCode: string): Promise<boolean> {
  return Object.hasOwn(deps.config.actions.policies, actionCode) || (await findActionConfiguration(deps.db, clientId, actionCode)) !== null;
}

/**
 * Decides a sign-in: null when its action has no policy. Under `key` (a hosted interaction and its
 * user), the decision already made is answered as stored, so every later step of that sign-in
 * (the second factor, "check again" on a review) reads one decision, never a new one.
 */
export async function decideSignIn(deps: SignInRiskDeps, q: SignIn, key?: string, hasPolicy?: true): Promise<{ row: ActionDecisionRow; created: boolean } | null> {
  // `hasPolicy`: the caller just asked hasSignInPolicy (the hosted sign-in does, before it sets a cookie).
  if (!hasPolicy && !(await hasSignInPolicy(deps, q.clientId, q.actionCode))) return null;
  // The actions API refuses keys of this shape (authsignal-input.ts), so a row under it is this sign-in's own.
  const stored = key ? await findDecision(deps.db, q.clientId, key) : null;
  if (stored) return { row: stored, created: false };
  return track(deps, q, key ?? `${GRANT_KEY_PREFIX}${randomUUID()}`);
}

/**
 * Decides an API sign-in (the OTP and passkey grants). A retry of the same user, client, action and
 * address answers the decision that still speaks for it: a review held (no new row, no second
 * notice), denied, or expired; an approval within actions.reviewTimeout of it lets exactly one
 * retry through (`approved`), used atomically. Anything else is decided afresh.
 */
export async function decideGrantSignIn(deps: SignInRiskDeps, q: SignIn, now = new Date()): Promise<{ row: ActionDecisionRow; created: boolean; approved?: true } | null> {
  if (!(await hasSignInPolicy(deps, q.clientId, q.actionCode))) return null;
  const since = new Date(now.getTime() - deps.config.actions.reviewTimeout * 1000);
  const prior = await findGrantReview(deps.db, { tenantId: q.clientId, userId: q.userId, actionCode: q.actionCode, ip: q.ip }, GRANT_KEY_PREFIX, since);
  // A parallel retry that lost the approval is a sign-in of its own: decided afresh below.
  if (prior?.state === 'REVIEW_SUCCEEDED' && (await useApproval(deps.db, prior.id, since, now))) return { row: prior, created: false, approved: true };
  if (prior && prior.state !== 'REVIEW_SUCCEEDED') return { row: prior, created: false };
  return track(deps, q, `${GRANT_KEY_PREFIX}${randomUUID()}`, true);
}

/**
 * Tracks sign-in `q` under `key`; a new REVIEW is logged and its webhook stored with the decision.
 * `heldOnce` (API sign-ins): a REVIEW while one is held for the same retry answers that one.
 */
async function track(deps: SignInRiskDeps, q: SignIn, key: string, heldOnce = false): Promise<{ row: ActionDecisionRow; created: boolean }> {
  const user = await findUserById(deps.db, q.userId);
  const notice = (row: ActionDecisionRow) => (row.state === 'REVIEW_REQUIRED' ? reviewWebhook(deps, row) : null);
  const { row, created } = await trackAction(
    deps,
    {
      tenantId: q.clientId,
      userId: q.userId,
      principalId: q.userId,
      actionCode: q.actionCode,
      ip: q.ip,
      userAgent: q.userAgent ?? null,
      deviceId: q.deviceId ?? null,
      email: user?.email ?? null,
      phoneNumber: user?.phoneNumber ?? null,
      locale: q.locale ?? null,
      interactionUid: q.interactionUid ?? null,
      idempotencyKey: key,
      facts: { 'signIn.method': signInMethod(q.amr) },
      operatorFirst: true,
    },
    new Date(),
    { notice, ...(heldOnce && { heldOnce: GRANT_KEY_PREFIX }) },
  );
  if (created && row.state === 'REVIEW_REQUIRED') announceReview(deps, row);
  return { row, created };
}

/** The decision key of a hosted sign-in: its interaction and its user. */
export function hostedKey(uid: string, userId: string): string {
  return `interaction:${uid}:${userId}`;
}

/** The decision of hosted sign-in `uid` of client `clientId` by `userId`, when one was made. */
export function hostedDecision(db: Db, clientId: string, uid: string, userId: string): Promise<ActionDecisionRow | null> {
  return findDecision(db, clientId, hostedKey(uid, userId));
}

export type Verdict =
  | { kind: 'allow' }
  | { kind: 'deny' }
  /** Waiting for the operator, and not yet past actions.reviewTimeout. */
  | { kind: 'review' }
  /** Held for review longer than actions.reviewTimeout: counts as denied. */
  | { kind: 'review-expired' }
  | { kind: 'challenge'; methods: VerificationMethod[] };

/** What a stored decision means for the sign-in it holds now. */
export function verdictOf(row: ActionDecisionRow, reviewTimeout: number, now = new Date()): Verdict {
  switch (row.state) {
    case 'ALLOW':
    case 'CHALLENGE_SUCCEEDED':
    case 'REVIEW_SUCCEEDED':
      return { kind: 'allow' };
    case 'REVIEW_REQUIRED':
      // From when it was held: an action put up for review after the fact (updateAction) waits its full time.
      return now.getTime() - row.stateUpdatedAt.getTime() > reviewTimeout * 1000 ? { kind: 'review-expired' } : { kind: 'review' };
    case 'CHALLENGE_REQUIRED':
      return { kind: 'challenge', methods: JSON.parse(row.verificationMethods) as VerificationMethod[] };
    default:
      return { kind: 'deny' };
  }
}

/** The MFA factor types as Authsignal's method names. */
const METHOD_OF_TYPE: Record<FactorType, VerificationMethod> = { totp: 'AUTHENTICATOR_APP', sms: 'SMS', email: 'EMAIL_OTP', 'recovery-code': 'RECOVERY_CODE', passkey: 'PASSKEY' };

/** Second-factor methods by amr value, most telling first (`otp` comes with every code). */
const METHOD_OF_AMR: [string, VerificationMethod][] = [
  ['rc', 'RECOVERY_CODE'],
  ['hwk', 'PASSKEY'],
  ['swk', 'PASSKEY'],
  ['sms', 'SMS'],
  ['otp', 'AUTHENTICATOR_APP'],
  ['email', 'EMAIL_OTP'],
];

/**
 * The method of `amr` that meets a challenge of `methods`, or null: the first method itself (a
 * passkey where a passkey is asked), or, once a second factor was proved (`mfa`) on the page that
 * offered only `methods`, that factor.
 */
export function passingMethod(amr: readonly string[], methods: readonly VerificationMethod[]): VerificationMethod | null {
  const first = signInMethod(amr);
  if (!amr.includes('mfa')) return first && methods.includes(first) ? first : null;
  return METHOD_OF_AMR.find(([value, method]) => amr.includes(value) && methods.includes(method))?.[1] ?? null;
}

/**
 * Marks the challenge of `row` met by `method` (CHALLENGE_REQUIRED -> CHALLENGE_SUCCEEDED, once):
 * true when this call met it; false when it no longer waited (a parallel pass won, or an operator
 * put it up for review). No result token: Sesame's own sign-ins validate nothing.
 */
export function meetChallenge(db: Db, row: Pick<ActionDecisionRow, 'id'>, method: VerificationMethod): Promise<boolean> {
  return transitionDecision(db, row.id, ['CHALLENGE_REQUIRED'], 'CHALLENGE_SUCCEEDED', { verificationMethod: method });
}

/** The methods the CHALLENGE of decision `id` waits for, or null when it waits for none (met, reviewed, swept). */
export async function openChallenge(db: Db, id: string): Promise<VerificationMethod[] | null> {
  const row = await findDecisionById(db, id);
  return row?.state === 'CHALLENGE_REQUIRED' ? (JSON.parse(row.verificationMethods) as VerificationMethod[]) : null;
}

/** The method a second factor of `type` is, as a rule names it. */
export const methodOfFactor = (type: FactorType): VerificationMethod => METHOD_OF_TYPE[type];

/** Whether a CHALLENGE of `methods` accepts a second factor of `type`. */
export const allowsFactor = (methods: readonly VerificationMethod[], type: FactorType): boolean => methods.includes(METHOD_OF_TYPE[type]);

/**
 * The second step a CHALLENGE of `methods` asks of the user: a challenge with their factors among
 * `methods` (of another kind than the first, as every second factor), else the enrolment of one
 * of those types. `enroll` with no types: nothing the user could do meets it.
 */
export async function challengeNeed(
  config: MfaPolicyConfig,
  db: Db,
  userId: string,
  amr: readonly string[],
  methods: readonly VerificationMethod[],
): Promise<Exclude<MfaNeed, { kind: 'none' }>> {
  const allowed = (type: FactorType) => allowsFactor(methods, type);
  const factors = (await challengeableFactors(config, db, userId, amr)).filter((f) => allowed(f.type));
  const types = enrolmentTypes(config, amr).filter(allowed);
  // Recovery codes alone are a way back, not a factor to rest on, unless nothing else could be enrolled.
  if (factors.some((f) => f.type !== 'recovery-code') || (factors.length && !types.length)) return { kind: 'challenge', factors };
  return { kind: 'enroll', types };
}

/** Tells the operator a sign-in waits for review in the log, and nudges the worker for its webhook. */
function announceReview(deps: SignInRiskDeps, row: ActionDecisionRow): void {
  deps.log.warn(
    { decisionId: row.id, clientId: row.tenantId, userId: row.userId, actionCode: row.actionCode, ruleIds: JSON.parse(row.ruleIds) as unknown },
    'sign-in held for review',
  );
  if (deps.config.actions.reviewWebhook) deps.wakeWorker?.();
}

/** The review webhook's message for a held sign-in (config actions.reviewWebhook), or null without one. */
function reviewWebhook(deps: SignInRiskDeps, row: ActionDecisionRow): OutgoingMessage | null {
  if (!deps.config.actions.reviewWebhook) return null;
  const body = {
    type: 'action.review_required',
    decisionId: row.id,
    clientId: row.tenantId,
    userId: row.userId,
    actionCode: row.actionCode,
    ruleIds: JSON.parse(row.ruleIds) as unknown,
    ip: row.ip,
    createdAt: row.createdAt.toISOString(),
  };
  return { channel: 'webhook', connectionId: REVIEW_WEBHOOK, recipient: row.tenantId, subject: 'action.review_required', text: JSON.stringify(body) };
}
