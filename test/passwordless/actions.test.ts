// Tracking actions on both engines: the facts a policy reads (device history, velocity, bots,
// disposable mail, the user's methods, custom attributes) gathered from real rows, the decision
// stored with its explanation, and the idempotency key (one decision, also when tracked in parallel).
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { trackAction, type ActionRequest } from '../../src/passwordless/actions.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { insertAuthenticator } from '../../src/storage/mfa.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';
import type { Db } from '../../src/storage/db.js';

const rule = (ruleId: string, priority: number, type: string, conditions: unknown, extra: Record<string, unknown> = {}) => ({
  ruleId,
  name: ruleId,
  priority,
  type,
  conditions,
  ...extra,
});
const config = loadConfig(
  {},
  {
    issuer: 'http://localhost:3000',
    actions: {
      policies: {
        withdraw: {
          rules: [
            rule('bot', 0, 'BLOCK', { var: 'userAgent.isBot' }),
            rule('throwaway', 1, 'BLOCK', { var: 'email.isDisposable' }),
            rule('busy', 2, 'REVIEW', { '>=': [{ var: 'user.actionCount.1h' }, 3] }),
            rule('new-device', 3, 'CHALLENGE', { var: 'device.isNew' }, { verificationMethods: ['PASSKEY', 'AUTHENTICATOR_APP'], defaultVerificationMethod: 'AUTHENTICATOR_APP' }),
            rule('large', 4, 'CHALLENGE', { '>': [{ var: 'custom.amount' }, 1000] }),
          ],
        },
        enrolled: { rules: [rule('has-app', 0, 'CHALLENGE', { in: ['AUTHENTICATOR_APP', { var: 'user.methods' }] })] },
      },
    },
  },
);
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';

describe.each(ENGINES)('tracking actions on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (d) => (db = d));
  const track = (req: Partial<ActionRequest>, now = new Date()) =>
    trackAction({ config, db }, { tenantId: 'shop', userId: 'u1', actionCode: 'withdraw', ip: '203.0.113.7', userAgent: BROWSER, ...req }, now);

  it('decides by the facts its rules read, and stores the decision with them', async () => {
    const userId = randomUUID();
    // A device this user was allowed from before (under another action) is known; another one is new.
    await trackAction({ config, db }, { tenantId: 'shop', userId, actionCode: 'signIn', ip: '203.0.113.7', deviceId: 'laptop' });
    const known = await track({ userId, deviceId: 'laptop', custom: { amount: 10 } });
    expect([known.decision.outcome, known.row.state, known.decision.matched]).toEqual(['ALLOW', 'ALLOW', []]);
    const fresh = await track({ userId, deviceId: 'phone', email: 'a@example.com', custom: { amount: 5000 } });
    expect(fresh.decision).toEqual({
      outcome: 'CHALLENGE',
      decidedBy: { ruleId: 'new-device', name: 'new-device' },
      matched: [
        { ruleId: 'new-device', name: 'new-device' },
        { ruleId: 'large', name: 'large' },
      ],
      verificationMethods: ['PASSKEY', 'AUTHENTICATOR_APP'],
      defaultVerificationMethod: 'AUTHENTICATOR_APP',
    });
    expect(fresh.row).toMatchObject({ tenantId: 'shop', userId, actionCode: 'withdraw', outcome: 'CHALLENGE', state: 'CHALLENGE_REQUIRED', ip: '203.0.113.7', deviceId: 'phone' });
    expect(JSON.parse(fresh.row.ruleIds)).toEqual(['new-device', 'large']);
    expect(JSON.parse(fresh.row.explanation)).toEqual({
      facts: { userAgent: { isBot: false }, email: { isDisposable: false }, user: { actionCount: { '1h': 1 } }, device: { isNew: true }, custom: { amount: 5000 } },
      decidedBy: { ruleId: 'new-device', name: 'new-device' },
      matched: [
        { ruleId: 'new-device', name: 'new-device' },
        { ruleId: 'large', name: 'large' },
      ],
    });
  });

  it('blocks bots and disposable inboxes, and holds a busy user for review', async () => {
    const userId = randomUUID();
    expect((await track({ userId, userAgent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' })).row.state).toBe('BLOCK');
    expect((await track({ userId: randomUUID(), email: 'someone@mailinator.com', deviceId: 'd' })).decision.decidedBy?.ruleId).toBe('throwaway');
    const busy = randomUUID();
    const now = Date.now();
    for (let i = 0; i < 3; i++) await track({ userId: busy, deviceId: 'x' }, new Date(now + i));
    expect((await track({ userId: busy, deviceId: 'x' }, new Date(now + 10))).row.state).toBe('REVIEW_REQUIRED');
    // An hour later the count starts again.
    expect((await track({ userId: busy, deviceId: 'x' }, new Date(now + 3600_011))).decision.decidedBy?.ruleId).toBe('new-device');
  });

  it("reads a Sesame user's methods when the tenant's user id is that user, signed in to the tenant", async () => {
    const user = await upsertVerifiedEmailUser(db, `${randomUUID()}@example.test`);
    const enrolled = (userId: string) => trackAction({ config, db }, { tenantId: 'shop', userId, actionCode: 'enrolled', ip: '203.0.113.7' });
    expect((await enrolled(user.id)).decision.outcome).toBe('ALLOW');
    await insertAuthenticator(db, { id: `totp|dev_${randomUUID()}`, userId: user.id, type: 'totp', confirmed: true });
    // A tenant that merely names a Sesame user it never signed in does not reach that user's factors.
    expect((await enrolled(user.id)).decision.outcome).toBe('ALLOW');
    await db.prisma.oidcPayload.create({ data: { model: 'Grant', id: randomUUID(), accountId: user.id, payload: JSON.stringify({ accountId: user.id, clientId: 'shop' }) } });
    const challenged = await enrolled(user.id);
    expect([challenged.decision.outcome, JSON.parse(challenged.row.explanation).facts]).toEqual(['CHALLENGE', { user: { methods: ['AUTHENTICATOR_APP'] } }]);
    expect((await enrolled('not-a-sesame-user')).decision.outcome).toBe('ALLOW');
  });

  it('answers the first decision again for a repeated idempotency key, also when tracked in parallel', async () => {
    const key = randomUUID();
    const first = await track({ idempotencyKey: key, deviceId: 'new-one' });
    const again = await track({ idempotencyKey: key, deviceId: 'laptop', userAgent: 'curl/8.0' });
    expect([again.created, again.row.id, again.decision]).toEqual([false, first.row.id, first.decision]);
    const parallelKey = randomUUID();
    const all = await Promise.all(Array.from({ length: 6 }, () => track({ idempotencyKey: parallelKey, deviceId: 'p' })));
    expect(all.filter((t) => t.created)).toHaveLength(1);
    expect(new Set(all.map((t) => t.row.id)).size).toBe(1);
    expect(await db.prisma.actionDecision.count({ where: { idempotencyKey: parallelKey } })).toBe(1);
    // Keys are per tenant: another tenant's identical key is its own action.
    expect((await trackAction({ config, db }, { tenantId: 'other', userId: 'u1', actionCode: 'withdraw', ip: '203.0.113.7', idempotencyKey: key })).created).toBe(true);
  });
});
