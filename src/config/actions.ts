// The `actions` settings: per action (`signIn`, `withdraw-funds`...) a risk policy in the shape of
// Authsignal's action configurations and rules. What a valid rule is lives here, so a malformed
// rule or an unknown variable stops the start with its path; risk/rules.ts decides with them.
import { z } from 'zod';

export const OUTCOMES = ['ALLOW', 'CHALLENGE', 'REVIEW', 'BLOCK'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Authsignal's names of the methods Sesame can challenge with. */
export const VERIFICATION_METHODS = ['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'EMAIL_MAGIC_LINK', 'SMS', 'RECOVERY_CODE'] as const;
export type VerificationMethod = (typeof VERIFICATION_METHODS)[number];

/**
 * The variables a condition may read (`{"var": "<name>"}`), with what each holds; `custom.<name>` reads
 * the app's own attributes. (Places: `ip.country`, `ip.asn`, `ip.isAnonymous`, travel speed come with
 * an offline IP database, not yet.)
 */
export const VARIABLES = {
  'ip.address': 'the requester address (after trusted proxies)',
  'device.id': "the device: the app's deviceId, else Sesame's device cookie",
  'device.isNew': 'this user has no earlier allowed action from this device',
  'userAgent.isBot': 'the User-Agent is a known bot or crawler',
  'user.actionCount.1h': "this user's actions of this kind in the last hour",
  'ip.actionCount.1h': "this address's actions of this kind in the last hour",
  'user.isEnrolled': 'the user has a second factor or a passkey',
  'user.methods': 'the verification methods the user has, e.g. ["PASSKEY", "EMAIL_OTP"]',
  'email.domain': "the domain of the user's email address",
  'email.isDisposable': 'the email domain is a known disposable-mail provider',
} as const;
export type Variable = keyof typeof VARIABLES;

/** JSONLogic operators a condition may use: the standard ones without `method` (calls into the facts' objects) and `log`. */
const OPERATORS = new Set([
  'var', 'missing', 'missing_some', 'if', '?:', '==', '===', '!=', '!==', '!', '!!', 'or', 'and', '>', '>=', '<', '<=',
  'max', 'min', '+', '-', '*', '/', '%', 'map', 'filter', 'reduce', 'all', 'none', 'some', 'merge', 'in', 'cat', 'substr',
]); // prettier-ignore

export interface Rule {
  ruleId: string;
  name: string;
  description?: string;
  isActive: boolean;
  priority: number;
  type: Outcome;
  verificationMethods?: VerificationMethod[];
  defaultVerificationMethod?: VerificationMethod;
  conditions: unknown;
}

export interface ActionPolicy {
  defaultOutcome: Outcome;
  /** The methods a CHALLENGE without methods of its own allows. */
  verificationMethods: VerificationMethod[];
  rules: Rule[];
}

/** What a condition's `var` names: a documented variable, or `custom.<name>`. */
function knownVariable(name: unknown): boolean {
  return typeof name === 'string' && (name in VARIABLES || /^custom\.[A-Za-z0-9_-]{1,64}$/.test(name));
}

/** Every problem of a condition, each with its JSON path; none for a well-formed one. */
export function conditionProblems(logic: unknown, path: string): string[] {
  if (Array.isArray(logic)) return logic.flatMap((item, i) => conditionProblems(item, `${path}[${i}]`));
  if (logic === null || typeof logic !== 'object') return [];
  const keys = Object.keys(logic);
  if (keys.length !== 1) return [`${path}: an operation is an object with exactly one operator, got ${keys.length ? keys.join(', ') : 'none'}`];
  const operator = keys[0]!;
  if (!OPERATORS.has(operator)) return [`${path}: unknown operator "${operator}"`];
  const args = (logic as Record<string, unknown>)[operator];
  if (operator === 'var') {
    const name = Array.isArray(args) ? args[0] : args;
    return knownVariable(name) ? [] : [`${path}: unknown variable ${JSON.stringify(name)} (known: ${Object.keys(VARIABLES).join(', ')}, custom.<name>)`];
  }
  return conditionProblems(args, `${path}.${operator}`);
}

/** The variables a policy's active rules read (facts nobody reads are not gathered). */
export function variablesOf(policy: ActionPolicy): Set<string> {
  const names = new Set<string>();
  const walk = (logic: unknown): void => {
    if (Array.isArray(logic)) return logic.forEach(walk);
    if (logic === null || typeof logic !== 'object') return;
    for (const [operator, args] of Object.entries(logic)) {
      const name = operator === 'var' ? (Array.isArray(args) ? args[0] : args) : undefined;
      if (typeof name === 'string') names.add(name);
      else walk(args);
    }
  };
  for (const rule of policy.rules) if (rule.isActive) walk(rule.conditions);
  return names;
}

/** Every problem of a policy's rules, with paths under `path` (e.g. `actions.signIn`). */
export function policyProblems(policy: ActionPolicy, path: string): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  policy.rules.forEach((rule, i) => {
    const at = path ? `${path}.rules[${i}]` : `rules[${i}]`;
    if (ids.has(rule.ruleId)) problems.push(`${at}.ruleId: "${rule.ruleId}" is used twice`);
    ids.add(rule.ruleId);
    problems.push(...conditionProblems(rule.conditions, `${at}.conditions`));
    const methods = rule.verificationMethods ?? policy.verificationMethods;
    if (rule.defaultVerificationMethod && !methods.includes(rule.defaultVerificationMethod)) {
      problems.push(`${at}.defaultVerificationMethod: ${rule.defaultVerificationMethod} is not one of its verificationMethods`);
    }
  });
  return problems;
}

const ruleSchema = z.strictObject({
  ruleId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .describe('Stable id of the rule (reported in decisions as ruleIds).'),
  name: z.string().min(1).max(200),
  description: z.string().max(1000).optional(),
  isActive: z.boolean().default(true),
  priority: z.number().int().min(0).default(0).describe('0 is tried first; the first matching rule decides.'),
  type: z.enum(OUTCOMES).describe('The outcome when the conditions hold.'),
  verificationMethods: z.array(z.enum(VERIFICATION_METHODS)).min(1).optional(),
  defaultVerificationMethod: z.enum(VERIFICATION_METHODS).optional(),
  conditions: z.unknown().describe('JSONLogic over the documented variables.'),
});

export const actionPolicySchema = z.strictObject({
  defaultOutcome: z.enum(OUTCOMES).default('ALLOW').describe('The outcome when no rule matches.'),
  verificationMethods: z
    .array(z.enum(VERIFICATION_METHODS))
    .default(['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'SMS', 'RECOVERY_CODE'])
    .describe('Methods a CHALLENGE allows when its rule names none.'),
  rules: z.array(ruleSchema).default([]),
});

/** What an action code may be (config keys, the API's path segment, the CLI's filters). */
export const ACTION_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

export const actionsSchema = z
  .strictObject({
    policies: z
      .record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), actionPolicySchema)
      .default({})
      .describe('Risk policy per action code (Authsignal action configurations); an action without one is allowed.'),
    retentionDays: z.number().int().min(1).max(3650).default(90).describe('Days decisions are kept (explanations included).'),
    tokenTtl: z.number().int().min(60).max(86_400).default(600).describe("Seconds a track token (the challenge page's and the client API's bearer) and a result token live."),
    tracksPerMinute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(600)
      .describe('Tracks one tenant may make per minute through the server API (beyond: 429), so one tenant cannot flood the others.'),
  })
  .superRefine((actions, ctx) => {
    for (const [code, policy] of Object.entries(actions.policies)) {
      for (const problem of policyProblems(policy, '')) ctx.addIssue({ code: 'custom', message: problem, path: ['policies', code] });
    }
  })
  .prefault({})
  .describe('Risk actions: policies that decide ALLOW, CHALLENGE, REVIEW or BLOCK for tracked actions.');

export type ActionsConfig = z.infer<typeof actionsSchema>;
