// A tenant's own action configurations and rules, in the shape of Authsignal's management API
// (`/v1/management/action-configurations`), stored as the policy JSON trackAction reads through
// policyFor. The wire's `defaultUserActionResult` is our `defaultOutcome`; its configuration-level
// `defaultVerificationMethod` is kept as the first of `verificationMethods` (what a challenge
// without a rule-level default offers first). Every change is a compare-and-swap on the stored JSON,
// retried, so two requests at once never lose each other's rule. Validation is the config file's
// (actionPolicySchema, policyProblems): an unknown variable or malformed JSONLogic names its path.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { actionPolicySchema, OUTCOMES, policyProblems, VERIFICATION_METHODS, type ActionPolicy, type Rule } from '../config/actions.js';
import { SesameError } from '../errors.js';
import { findActionConfiguration, listActionConfigurations, replaceActionConfiguration } from '../storage/action-tenants.js';
import type { Db } from '../storage/db.js';

/** The action codes the config file accepts (`actions.policies` keys). */
export const ACTION_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Rules one configuration may hold: each track evaluates them all. */
export const MAX_RULES = 100;
const ATTEMPTS = 20;

const methods = z.array(z.enum(VERIFICATION_METHODS));
// Authsignal's fields Sesame has no use for are accepted only empty, so nothing is silently dropped.
const unsupported = z.array(z.never()).max(0).optional();

export const configurationInput = z.strictObject({
  actionCode: z.string().regex(ACTION_CODE).optional(),
  defaultUserActionResult: z.enum(OUTCOMES).optional(),
  verificationMethods: methods.optional(),
  defaultVerificationMethod: z.enum(VERIFICATION_METHODS).nullable().optional(),
  promptToEnrollVerificationMethods: unsupported,
  messagingTemplates: z.strictObject({}).optional(),
});

export const ruleInput = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  description: z.string().max(1000).nullable().optional(),
  isActive: z.boolean().optional(),
  priority: z.number().int().min(0).optional(),
  type: z.enum(OUTCOMES).optional(),
  verificationMethods: methods.min(1).nullable().optional(),
  defaultVerificationMethod: z.enum(VERIFICATION_METHODS).nullable().optional(),
  promptToEnrollVerificationMethods: unsupported,
  conditions: z.unknown().optional(),
});

export type ConfigurationInput = z.infer<typeof configurationInput>;
export type RuleInput = z.infer<typeof ruleInput>;

/** A body checked against `schema`, or a 400 naming the first wrong field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.length ? issue.path.join('.') : 'body';
  throw new SesameError('invalidRequest', { detail: `${path}: ${issue.message}` });
}

/** A configuration as the management API shows it. */
export function configurationView(tenantId: string, actionCode: string, policy: ActionPolicy) {
  return {
    tenantId,
    actionCode,
    defaultUserActionResult: policy.defaultOutcome,
    verificationMethods: policy.verificationMethods,
    ...(policy.verificationMethods[0] && { defaultVerificationMethod: policy.verificationMethods[0] }),
  };
}

/** A rule as the management API shows it. */
export function ruleView(tenantId: string, actionCode: string, rule: Rule) {
  return { ...rule, tenantId, actionCode };
}

function parsePolicy(json: string): ActionPolicy {
  return actionPolicySchema.parse(JSON.parse(json));
}

/** The tenant's configuration of `actionCode`, or null. */
export async function readConfiguration(db: Db, tenantId: string, actionCode: string): Promise<ActionPolicy | null> {
  const stored = await findActionConfiguration(db, tenantId, actionCode);
  return stored === null ? null : parsePolicy(stored);
}

export async function listConfigurations(db: Db, tenantId: string): Promise<{ actionCode: string; policy: ActionPolicy }[]> {
  return (await listActionConfigurations(db, tenantId)).map((row) => ({ actionCode: row.actionCode, policy: parsePolicy(row.policy) }));
}

/** The methods with `preferred` first (it is the default a challenge offers). */
function withDefault(list: readonly (typeof VERIFICATION_METHODS)[number][], preferred: (typeof VERIFICATION_METHODS)[number] | null | undefined) {
  if (!preferred) return [...list];
  if (!list.includes(preferred)) throw new SesameError('invalidRequest', { detail: `defaultVerificationMethod: ${preferred} is not one of verificationMethods` });
  return [preferred, ...list.filter((m) => m !== preferred)];
}

/** Applies a configuration body to a policy (a fresh one when `before` is null). */
export function applyConfiguration(before: ActionPolicy | null, input: ConfigurationInput): ActionPolicy {
  const base = before ?? actionPolicySchema.parse({});
  const list = input.verificationMethods ?? base.verificationMethods;
  return {
    ...base,
    defaultOutcome: input.defaultUserActionResult ?? base.defaultOutcome,
    verificationMethods: withDefault(list, input.defaultVerificationMethod),
  };
}

/** Applies a rule body to a rule (a new one, with a new id, when `before` is undefined). */
export function applyRule(before: Rule | undefined, input: RuleInput): Rule {
  if (!before) {
    for (const field of ['name', 'type', 'conditions'] as const) {
      if (input[field] === undefined) throw new SesameError('invalidRequest', { detail: `${field}: required` });
    }
  }
  const rule: Record<string, unknown> = { ...(before ?? { ruleId: randomUUID(), isActive: true, priority: 0 }) };
  for (const [key, value] of Object.entries(input)) {
    if (key === 'promptToEnrollVerificationMethods' || value === undefined) continue;
    // null removes an optional field; null conditions stay (JSONLogic null: the rule never matches).
    if (value === null && key !== 'conditions') delete rule[key];
    else rule[key] = value;
  }
  return rule as unknown as Rule;
}

/** The policy as stored, after the same checks the config file gets; a 400 with the path otherwise. */
function validated(policy: ActionPolicy): string {
  const parsed = actionPolicySchema.safeParse(policy);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SesameError('invalidRequest', { detail: `${issue.path.join('.')}: ${issue.message}` });
  }
  const problems = policyProblems(parsed.data, '');
  if (problems.length) throw new SesameError('invalidRequest', { detail: problems.join('; ') });
  if (parsed.data.rules.length > MAX_RULES) throw new SesameError('invalidRequest', { detail: `rules: at most ${MAX_RULES} per action configuration` });
  return JSON.stringify(parsed.data);
}

/**
 * Changes the tenant's configuration of `actionCode` with `change` (given the current policy or
 * null; returning null deletes it), compare-and-swap, retried when another request got there
 * first. Returns what `change` returned.
 */
export async function changeConfiguration(
  db: Db,
  tenantId: string,
  actionCode: string,
  change: (current: ActionPolicy | null) => ActionPolicy | null,
): Promise<ActionPolicy | null> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const stored = await findActionConfiguration(db, tenantId, actionCode);
    const next = change(stored === null ? null : parsePolicy(stored));
    const json = next === null ? null : validated(next);
    if (await replaceActionConfiguration(db, tenantId, actionCode, stored, json)) return next;
  }
  throw new SesameError('conflict', { detail: 'The configuration is changing too often; try again.' });
}
