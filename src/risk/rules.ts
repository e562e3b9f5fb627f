// Risk rules in the model of Authsignal's actions: an action's policy (config/actions.ts, where a
// valid rule is defined) is a default outcome and rules whose conditions are JSONLogic over the
// documented variables. Active rules are tried in priority order (0 first); the first that matches
// decides the outcome, and every rule that matched is reported, so a decision can be explained.
// Pure: the facts are gathered elsewhere.
import jsonLogic from 'json-logic-js';
import { conditionProblems, type ActionPolicy, type Outcome, type Rule, type VerificationMethod } from '../config/actions.js';

export type { ActionPolicy, Outcome, Rule, VerificationMethod };

export interface Decision {
  outcome: Outcome;
  /** The rule that decided, or null for the policy's default. */
  decidedBy: Pick<Rule, 'ruleId' | 'name' | 'description'> | null;
  /** Every active rule whose conditions held, in priority order. */
  matched: Pick<Rule, 'ruleId' | 'name' | 'description'>[];
  verificationMethods: VerificationMethod[];
  defaultVerificationMethod: VerificationMethod | null;
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
