// Risk rules in the model of Authsignal's actions: an action's policy is a default outcome and
// rules `{name, isActive, priority, type, verificationMethods, defaultVerificationMethod,
// conditions}` whose conditions are JSONLogic over the documented variables below. Active rules are
// tried in priority order (0 first); the first that matches decides the outcome, and every rule that
// matched is reported, so a decision can be explained. Pure: the facts are gathered elsewhere.
import jsonLogic from 'json-logic-js';

export const OUTCOMES = ['ALLOW', 'CHALLENGE', 'REVIEW', 'BLOCK'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Authsignal's names of the methods Sesame can challenge with. */
export const VERIFICATION_METHODS = ['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'EMAIL_MAGIC_LINK', 'SMS', 'RECOVERY_CODE'] as const;
export type VerificationMethod = (typeof VERIFICATION_METHODS)[number];

/** The variables a condition may read (`{"var": "<name>"}`), with what each holds; `custom.<name>` reads the app's own attributes. */
export const VARIABLES = {
  'ip.address': 'the requester address (after trusted proxies)',
  'ip.country': 'ISO 3166 alpha-2 country of the address, or null when unknown',
  'ip.asn': 'autonomous system number of the address, or null when unknown',
  'ip.isAnonymous': 'the address is a known anonymizer (Tor exit, VPN, hosting), where the data says so',
  'device.id': "the device: the app's deviceId, else Sesame's device cookie",
  'device.isNew': 'this user has no earlier allowed action from this device',
  'userAgent.isBot': 'the User-Agent is a known bot or crawler',
  'user.actionCount.1h': "this user's actions of this kind in the last hour",
  'ip.actionCount.1h': "this address's actions of this kind in the last hour",
  'user.isEnrolled': 'the user has a second factor or a passkey',
  'user.methods': 'the verification methods the user has, e.g. ["PASSKEY", "EMAIL_OTP"]',
  'email.domain': "the domain of the user's email address",
  'email.isDisposable': 'the email domain is a known disposable-mail provider',
  'travel.kmPerHour': "speed needed from the user's last allowed action's place to this one, or null when either place is unknown",
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

export interface Decision {
  outcome: Outcome;
  /** The rule that decided, or null for the policy's default. */
  decidedBy: Pick<Rule, 'ruleId' | 'name' | 'description'> | null;
  /** Every active rule whose conditions held, in priority order. */
  matched: Pick<Rule, 'ruleId' | 'name' | 'description'>[];
  verificationMethods: VerificationMethod[];
  defaultVerificationMethod: VerificationMethod | null;
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

/** Every problem of a policy's rules, with paths under `path` (e.g. `actions.signIn`). */
export function policyProblems(policy: ActionPolicy, path: string): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  policy.rules.forEach((rule, i) => {
    const at = `${path}.rules[${i}]`;
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

/**
 * Whether a rule's conditions hold for `facts`. A condition that cannot be evaluated does not hold, nor
 * one that breaks the rules above: loading refuses those, and a rule changed by other means must not
 * reach json-logic-js operators such as `method`.
 */
function holds(conditions: unknown, facts: object): boolean {
  if (conditionProblems(conditions, '').length) return false;
  try {
    return jsonLogic.truthy(jsonLogic.apply(conditions as never, facts));
  } catch {
    return false;
  }
}

/** The decision of `policy` for `facts` (nested objects: `{ ip: { country: 'FR' }, custom: {...} }`). */
export function decide(policy: ActionPolicy, facts: object): Decision {
  const active = policy.rules.filter((r) => r.isActive).sort((a, b) => a.priority - b.priority);
  const matched = active.filter((rule) => holds(rule.conditions, facts));
  const first = matched[0];
  const label = (r: Rule) => ({ ruleId: r.ruleId, name: r.name, ...(r.description ? { description: r.description } : {}) });
  const outcome = first?.type ?? policy.defaultOutcome;
  const methods = first?.verificationMethods ?? policy.verificationMethods;
  const challenged = outcome === 'CHALLENGE';
  return {
    outcome,
    decidedBy: first ? label(first) : null,
    matched: matched.map(label),
    verificationMethods: challenged ? methods : [],
    defaultVerificationMethod: challenged ? (first?.defaultVerificationMethod ?? methods[0] ?? null) : null,
  };
}
