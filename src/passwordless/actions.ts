// Tracking an action (Authsignal's `track`): the facts the action's policy reads, gathered only
// when a rule reads them (velocity and device history from earlier decisions, the user's factors,
// the User-Agent, the email domain, the app's custom attributes, the address's place from
// action-places.ts), the decision of risk/rules.ts, and the decision stored with its explanation,
// once per tenant and idempotency key.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { isbot } from 'isbot';
import { variablesOf, type VerificationMethod } from '../config/actions.js';
import type { LoadedConfig } from '../config/load.js';
import { normalizeIp } from '../risk/ip-data.js';
import { decide, type Decision } from '../risk/rules.js';
import { actionHistory, insertDecision, type ActionDecisionRow, type DecisionExtras, type History } from '../storage/action-decisions.js';
import type { Db } from '../storage/db.js';
import { enrolledTypes } from '../storage/mfa.js';
import { placeFacts } from './action-places.js';
import { policyFor } from './action-tenants.js';
import { actionPrincipal } from './action-users.js';

export interface ActionRequest {
  /** The client the action is tracked for (a tenant). */
  tenantId: string;
  /** The tenant's id for its user (a Sesame `sub` of that client is the same person). */
  userId: string;
  actionCode: string;
  ip: string;
  userAgent?: string | null;
  /** The app's device id, else Sesame's device cookie. */
  deviceId?: string | null;
  email?: string | null;
  custom?: Record<string, unknown>;
  idempotencyKey?: string;
  /** The Sesame user behind `userId`; resolved by action-users.ts when not given (Sesame's own sign-ins give their `sub`). */
  principalId?: string;
  /** Where the pre-built page sends the browser back. */
  redirectUrl?: string | null;
  /** What the pre-built page and client API may show or use: phone number, username, locale. */
  phoneNumber?: string | null;
  username?: string | null;
  locale?: string | null;
  /** The hosted sign-in this decision holds (Sesame's own sign-ins). */
  interactionUid?: string | null;
  /** Sesame's own sign-ins: the config file's policy wins over the tenant's own (policyFor). */
  operatorFirst?: boolean;
  /** Facts the caller knows already (Sesame's sign-ins: `signIn.method`), read when a rule names them. */
  facts?: Record<string, unknown>;
  /** The tenant's stored policy JSON for the action when the caller read it already (null: none); read here when absent. */
  storedPolicy?: string | null;
}

/** Authsignal's state of a fresh decision. */
const STATE_OF = { ALLOW: 'ALLOW', BLOCK: 'BLOCK', CHALLENGE: 'CHALLENGE_REQUIRED', REVIEW: 'REVIEW_REQUIRED' } as const;

/** The MFA factor types (and passkeys) as Authsignal's verification methods. */
const METHOD_OF: Record<string, VerificationMethod> = { passkey: 'PASSKEY', totp: 'AUTHENTICATOR_APP', sms: 'SMS', email: 'EMAIL_OTP', 'recovery-code': 'RECOVERY_CODE' };

let disposable: Set<string> | undefined;
/** The disposable-mail domains (disposable-email-domains, MIT), loaded the first time a rule asks. */
function disposableDomains(): Set<string> {
  disposable ??= new Set(createRequire(import.meta.url)('disposable-email-domains') as string[]);
  return disposable;
}

/** The methods a Sesame user has (none for an id that is not one). */
export async function methodsOf(db: Db, userId: string): Promise<VerificationMethod[]> {
  return [...new Set((await enrolledTypes(db, userId)).map((type) => METHOD_OF[type]!))];
}

/** Sets `value` at a dotted path of `facts` (`user.actionCount.1h` -> facts.user.actionCount['1h']). */
function put(facts: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let at = facts;
  for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
  at[keys.at(-1)!] = value;
}

/** The facts `variables` name, for this request; each gathered only when named. */
export async function gatherFacts(db: Db, req: ActionRequest & { principalId: string }, variables: Set<string>, now: Date): Promise<Record<string, unknown>> {
  const facts: Record<string, unknown> = {};
  const hourAgo = new Date(now.getTime() - 3600_000);
  const scope = { tenantId: req.tenantId, actionCode: req.actionCode, since: hourAgo };
  let methods: VerificationMethod[] | undefined;
  // The three facts of earlier decisions come from one statement, asked once for those named.
  let history: Promise<History> | undefined;
  const past = () =>
    (history ??= actionHistory(
      db,
      { ...scope, userId: req.userId, ip: req.ip, deviceId: req.deviceId ?? null },
      { userCount: variables.has('user.actionCount.1h'), ipCount: variables.has('ip.actionCount.1h'), deviceKnown: variables.has('device.isNew') },
    ));
  const domain = req.email?.includes('@') ? req.email.slice(req.email.lastIndexOf('@') + 1).toLowerCase() : null;
  const gather: Record<string, () => unknown> = {
    // One spelling per address, so a rule's "203.0.113.7" also matches an IPv4 peer of a dual-stack socket (::ffff:203.0.113.7).
    'ip.address': () => normalizeIp(req.ip) ?? req.ip,
    'device.id': () => req.deviceId ?? null,
    'device.isNew': async () => !req.deviceId || !(await past()).deviceKnown,
    'userAgent.isBot': () => isbot(req.userAgent ?? ''),
    'user.actionCount.1h': async () => (await past()).userCount,
    'ip.actionCount.1h': async () => (await past()).ipCount,
    'user.methods': async () => (methods ??= await methodsOf(db, req.principalId)),
    'user.isEnrolled': async () => (methods ??= await methodsOf(db, req.principalId)).length > 0,
    'email.domain': () => domain,
    'email.isDisposable': () => (domain ? disposableDomains().has(domain) : false),
  };
  for (const name of variables) {
    if (name.startsWith('custom.')) put(facts, name, req.custom?.[name.slice('custom.'.length)] ?? null);
    else if (req.facts && name in req.facts) put(facts, name, req.facts[name]);
    else if (gather[name]) put(facts, name, await gather[name]());
  }
  return facts;
}

export interface Tracked {
  row: ActionDecisionRow;
  decision: Decision;
  /** False when the idempotency key had a decision already (this answers that one). */
  created: boolean;
}

/**
 * Tracks an action: decides it under its policy and stores the decision with why, and with `extras`
 * (Sesame's sign-ins: the review webhook stored atomically with it, one held review per retry).
 */
export async function trackAction(deps: { config: Pick<LoadedConfig, 'actions'>; db: Db }, req: ActionRequest, now = new Date(), extras?: DecisionExtras): Promise<Tracked> {
  const principalId = req.principalId ?? (await actionPrincipal(deps.db, req.tenantId, req.userId, { create: true }))!;
  const policy = await policyFor(deps, req.tenantId, req.actionCode, { operatorFirst: req.operatorFirst === true, stored: req.storedPolicy });
  const variables = variablesOf(policy);
  const facts = await gatherFacts(deps.db, { ...req, principalId }, variables, now);
  const place = await placeFacts({ geo: deps.config.actions.geo, db: deps.db }, req, variables, now);
  for (const [name, value] of place.facts) put(facts, name, value);
  const decision = decide(policy, facts);
  const context = {
    email: req.email ?? undefined,
    phoneNumber: req.phoneNumber ?? undefined,
    username: req.username ?? undefined,
    locale: req.locale ?? undefined,
    userAgent: req.userAgent ?? undefined,
  };
  const { row, created } = await insertDecision(
    deps.db,
    {
      tenantId: req.tenantId,
      userId: req.userId,
      actionCode: req.actionCode,
      idempotencyKey: req.idempotencyKey ?? randomUUID(),
      outcome: decision.outcome,
      state: STATE_OF[decision.outcome],
      ruleIds: JSON.stringify(decision.matched.map((r) => r.ruleId)),
      explanation: JSON.stringify({ facts, decidedBy: decision.decidedBy, matched: decision.matched }),
      ip: req.ip,
      deviceId: req.deviceId ?? null,
      principalId,
      verificationMethods: JSON.stringify(decision.verificationMethods),
      defaultVerificationMethod: decision.defaultVerificationMethod,
      redirectUrl: req.redirectUrl ?? null,
      context: JSON.stringify(context),
      ...place.stored,
      interactionUid: req.interactionUid ?? null,
    },
    now,
    extras,
  );
  return { row, decision: created ? decision : storedDecision(row), created };
}

/** A stored decision as `decide` gave it (an idempotent track answers the first one, not a new evaluation). */
export function storedDecision(row: ActionDecisionRow): Decision {
  const { decidedBy, matched } = JSON.parse(row.explanation) as Pick<Decision, 'decidedBy' | 'matched'>;
  return {
    outcome: row.outcome as Decision['outcome'],
    decidedBy,
    matched,
    verificationMethods: JSON.parse(row.verificationMethods) as VerificationMethod[],
    defaultVerificationMethod: row.defaultVerificationMethod as VerificationMethod | null,
  };
}
