// The rule engine alone: priority order, the first matching rule deciding and every match reported,
// inactive rules ignored, the policy's default; conditions over nested facts (custom attributes,
// velocity counts); and the validation that stops a start: unknown variables and operators with
// their paths, `method` (it would call into the facts' objects) refused at load and at evaluation.
import { describe, expect, it } from 'vitest';
import { conditionProblems, policyProblems, variablesOf } from '../../src/config/actions.js';
import { loadConfig } from '../../src/config/load.js';
import { decide, type ActionPolicy, type Rule } from '../../src/risk/rules.js';

const rule = (ruleId: string, priority: number, type: Rule['type'], conditions: unknown, extra: Partial<Rule> = {}): Rule => ({
  ruleId,
  name: `rule ${ruleId}`,
  isActive: true,
  priority,
  type,
  conditions,
  ...extra,
});
const newDevice = { '==': [{ var: 'device.isNew' }, true] };
const fromFrance = { '==': [{ var: 'custom.country' }, 'FR'] };
const busy = { '>': [{ var: 'user.actionCount.1h' }, 5] };
const policy: ActionPolicy = {
  defaultOutcome: 'ALLOW',
  verificationMethods: ['EMAIL_OTP', 'PASSKEY'],
  rules: [
    rule('velocity', 2, 'REVIEW', busy),
    rule('new-device', 1, 'CHALLENGE', newDevice, { verificationMethods: ['PASSKEY'], description: 'A device never seen' }),
    rule('france', 0, 'BLOCK', { and: [fromFrance, { '>=': [{ var: 'custom.amount' }, 1000] }] }),
    rule('off', 0, 'BLOCK', true, { isActive: false }),
  ],
};

describe('risk rules', () => {
  it('lets the first matching rule by priority decide and reports every rule that matched', () => {
    const facts = { device: { isNew: true }, user: { actionCount: { '1h': 9 } }, custom: { country: 'DE' } };
    expect(decide(policy, facts)).toEqual({
      outcome: 'CHALLENGE',
      decidedBy: { ruleId: 'new-device', name: 'rule new-device', description: 'A device never seen' },
      matched: [
        { ruleId: 'new-device', name: 'rule new-device', description: 'A device never seen' },
        { ruleId: 'velocity', name: 'rule velocity' },
      ],
      verificationMethods: ['PASSKEY'],
      defaultVerificationMethod: 'PASSKEY',
    });
    expect(decide(policy, { custom: { country: 'FR', amount: 1000 }, device: { isNew: true } })).toMatchObject({
      outcome: 'BLOCK',
      decidedBy: { ruleId: 'france' },
      verificationMethods: [],
    });
    expect(decide(policy, { custom: { country: 'FR', amount: 999 } })).toEqual({
      outcome: 'ALLOW',
      decidedBy: null,
      matched: [],
      verificationMethods: [],
      defaultVerificationMethod: null,
    });
  });

  it("takes the policy's methods for a CHALLENGE rule without its own, and the default outcome when nothing matches", () => {
    const challenging: ActionPolicy = { defaultOutcome: 'CHALLENGE', verificationMethods: ['EMAIL_OTP', 'SMS'], rules: [rule('bot', 0, 'BLOCK', { var: 'userAgent.isBot' })] };
    expect(decide(challenging, { userAgent: { isBot: false } })).toEqual({
      outcome: 'CHALLENGE',
      decidedBy: null,
      matched: [],
      verificationMethods: ['EMAIL_OTP', 'SMS'],
      defaultVerificationMethod: 'EMAIL_OTP',
    });
    expect(decide(challenging, { userAgent: { isBot: true } })).toMatchObject({ outcome: 'BLOCK', decidedBy: { ruleId: 'bot' } });
    // A missing fact is null in JSONLogic: the rule does not hold.
    expect(decide(challenging, {})).toMatchObject({ outcome: 'CHALLENGE' });
  });

  it('names each bad condition by its path: unknown variables and operators, malformed operations', () => {
    expect(conditionProblems({ and: [newDevice, { '==': [{ var: 'device.isnew' }, true] }] }, 'actions.signIn.rules[0].conditions')).toEqual([
      expect.stringMatching(/^actions\.signIn\.rules\[0\]\.conditions\.and\[1\]\.==\[0\]: unknown variable "device\.isnew" \(known: ip\.address, .*custom\.<name>\)$/),
    ]);
    expect(conditionProblems({ in: [{ var: 'custom.plan' }, ['pro', 'team']] }, 'c')).toEqual([]);
    expect(conditionProblems({ regex: ['a', 'b'] }, 'c')).toEqual(['c: unknown operator "regex"']);
    expect(conditionProblems({ '==': [1, 1], '!=': [1, 2] }, 'c')).toEqual(['c: an operation is an object with exactly one operator, got ==, !=']);
    expect(conditionProblems({ var: 'custom.' }, 'c')).toEqual([expect.stringMatching(/^c: unknown variable "custom\."/)]);
  });

  it('refuses `method` and `log` at load, and never evaluates a rule that uses them', () => {
    const calls = { method: [{ var: 'custom.secret' }, 'toUpperCase'] };
    expect(conditionProblems(calls, 'c')).toEqual(['c: unknown operator "method"']);
    expect(conditionProblems({ log: 1 }, 'c')).toEqual(['c: unknown operator "log"']);
    const sneaky: ActionPolicy = { defaultOutcome: 'ALLOW', verificationMethods: [], rules: [rule('m', 0, 'BLOCK', { '==': [calls, 'X'] })] };
    expect(decide(sneaky, { custom: { secret: 'x' } })).toMatchObject({ outcome: 'ALLOW', matched: [] });
  });

  it('checks a whole policy: repeated rule ids and a default method outside the rule methods', () => {
    const bad: ActionPolicy = {
      defaultOutcome: 'ALLOW',
      verificationMethods: ['EMAIL_OTP'],
      rules: [rule('a', 0, 'CHALLENGE', newDevice, { defaultVerificationMethod: 'PASSKEY' }), rule('a', 1, 'BLOCK', { var: 'nope' })],
    };
    expect(policyProblems(bad, 'actions.signIn')).toEqual([
      'actions.signIn.rules[0].defaultVerificationMethod: PASSKEY is not one of its verificationMethods',
      'actions.signIn.rules[1].ruleId: "a" is used twice',
      expect.stringMatching(/^actions\.signIn\.rules\[1\]\.conditions: unknown variable "nope"/),
    ]);
    expect(policyProblems(policy, 'actions.signIn')).toEqual([]);
  });

  it('lists the variables a policy reads, and stops loading a config whose rules are bad, naming the path', () => {
    expect([...variablesOf(policy)].sort()).toEqual(['custom.amount', 'custom.country', 'device.isNew', 'user.actionCount.1h']);
    const signIn = { rules: [{ ruleId: 'r1', name: 'typo', type: 'BLOCK', conditions: { '==': [{ var: 'ip.city' }, 'FR'] } }] };
    expect(() => loadConfig({}, { issuer: 'http://localhost:3000', actions: { policies: { signIn } } })).toThrow(
      /at actions\.policies\.signIn: rules\[0\]\.conditions\.==\[0\]: unknown variable "ip\.city"/,
    );
    const loaded = loadConfig(
      {},
      { issuer: 'http://localhost:3000', actions: { policies: { signIn: { rules: [{ ruleId: 'r1', name: 'ok', type: 'BLOCK', conditions: true }] } } } },
    );
    expect(loaded.actions.policies.signIn).toEqual({
      defaultOutcome: 'ALLOW',
      verificationMethods: ['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'SMS', 'RECOVERY_CODE'],
      rules: [{ ruleId: 'r1', name: 'ok', isActive: true, priority: 0, type: 'BLOCK', conditions: true }],
    });
  });
});
