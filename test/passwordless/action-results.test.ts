// The end of a tracked action on both engines: tenants by secret key, the principal behind an app's
// user id, a passed challenge's result token validating once (also when raced), the track token and
// other tenants' tokens never validating, and reviews settled once.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { issueTenantSecret, tenantOfBasic, tenantOfSecret } from '../../src/passwordless/action-tenants.js';
import { actionPrincipal, tenantUserId } from '../../src/passwordless/action-users.js';
import { mintActionToken, readActionToken } from '../../src/passwordless/action-tokens.js';
import { failChallenge, passChallenge, settleReview, validateToken } from '../../src/passwordless/action-results.js';
import { trackAction } from '../../src/passwordless/actions.js';
import { findDecision } from '../../src/storage/action-decisions.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';
import type { Db } from '../../src/storage/db.js';

const rule = (ruleId: string, type: string, conditions: unknown) => ({ ruleId, name: ruleId, priority: 0, type, conditions });
const config = loadConfig(
  {},
  {
    issuer: 'http://localhost:3000',
    actions: {
      policies: {
        pay: { defaultOutcome: 'CHALLENGE', verificationMethods: ['EMAIL_OTP', 'PASSKEY'], rules: [] },
        wire: { rules: [rule('big', 'REVIEW', { '>': [{ var: 'custom.amount' }, 100] })] },
      },
    },
  },
);
const keys = { cookieKeys: ['k'.repeat(40)], issuer: 'http://localhost:3000' };

describe.each(ENGINES)('action results on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (d) => (db = d));
  const deps = () => ({ ...keys, db, config });
  const track = (tenantId: string, actionCode: string, custom?: Record<string, unknown>) =>
    trackAction({ config, db }, { tenantId, userId: `app-${randomUUID()}`, actionCode, ip: '203.0.113.9', custom });

  it('finds a tenant by its secret key only, and a new key retires the old one', async () => {
    const tenant = `shop-${randomUUID()}`;
    const first = await issueTenantSecret(db, tenant);
    expect(first).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
    expect(await tenantOfSecret(db, first)).toBe(tenant);
    expect(await tenantOfBasic(db, `Basic ${Buffer.from(`${first}:`).toString('base64')}`)).toBe(tenant);
    const second = await issueTenantSecret(db, tenant);
    expect([await tenantOfSecret(db, first), await tenantOfSecret(db, second)]).toEqual([null, tenant]);
    expect(await tenantOfBasic(db, `Basic ${Buffer.from(`${second.slice(0, -1)}x:`).toString('base64')}`)).toBeNull();
    expect(await tenantOfBasic(db, 'Bearer x')).toBeNull();
  });

  it("maps an app's user id to its own user, and to a Sesame user only when it signed in to that client", async () => {
    const sesameUser = await upsertVerifiedEmailUser(db, `u-${randomUUID()}@example.com`);
    // Knowing a Sesame user's id is not enough: no grant with this client, so it is the tenant's own user of that name.
    expect(await actionPrincipal(db, 'shop', sesameUser.id, { create: false })).toBeNull();
    expect(await actionPrincipal(db, 'shop', sesameUser.id, { create: true })).toBe(tenantUserId('shop', sesameUser.id));
    await db.prisma.oidcPayload.create({
      data: { model: 'Grant', id: randomUUID(), accountId: sesameUser.id, payload: JSON.stringify({ accountId: sesameUser.id, clientId: 'shop' }) },
    });
    expect(await actionPrincipal(db, 'shop', sesameUser.id, { create: false })).toBe(sesameUser.id);
    expect(await actionPrincipal(db, 'other-shop', sesameUser.id, { create: false })).toBeNull();
    // Two tenants' users of one name are two people.
    expect(tenantUserId('a', 'bob')).not.toBe(tenantUserId('b', 'bob'));
  });

  it('validates a passed challenge once, also when two validations race', async () => {
    const { row } = await track('shop', 'pay');
    expect([row.state, JSON.parse(row.verificationMethods), row.defaultVerificationMethod]).toEqual(['CHALLENGE_REQUIRED', ['EMAIL_OTP', 'PASSKEY'], 'EMAIL_OTP']);
    const trackToken = (await mintActionToken(keys, 'track', row, 600)).token;
    const before = await validateToken(deps(), 'shop', { token: trackToken });
    expect(before).toEqual({
      isValid: false,
      state: 'CHALLENGE_REQUIRED',
      stateUpdatedAt: row.stateUpdatedAt.toISOString(),
      userId: row.userId,
      actionCode: 'pay',
      idempotencyKey: row.idempotencyKey,
    });
    const result = await passChallenge(deps(), row, 'EMAIL_OTP', 'email|dev_1');
    expect(result).toEqual(expect.any(String));
    // A second pass (a parallel verify that lost) mints nothing.
    expect(await passChallenge(deps(), row, 'EMAIL_OTP', 'email|dev_1')).toBeNull();
    // Another tenant learns nothing from it.
    expect(await validateToken(deps(), 'other-shop', { token: result })).toEqual({ isValid: false });
    // A mismatching action is reported but not valid, and does not spend the token.
    expect((await validateToken(deps(), 'shop', { token: result, action: 'wire' })).isValid).toBe(false);
    const answers = await Promise.all([1, 2, 3].map(() => validateToken(deps(), 'shop', { token: result, userId: row.userId, action: 'pay' })));
    expect(answers.filter((a) => a.isValid)).toHaveLength(1);
    const stored = (await findDecision(db, 'shop', row.idempotencyKey))!;
    expect(answers.find((a) => !a.isValid)).toEqual({
      isValid: false,
      state: 'CHALLENGE_SUCCEEDED',
      stateUpdatedAt: stored.stateUpdatedAt.toISOString(),
      userId: row.userId,
      actionCode: 'pay',
      idempotencyKey: row.idempotencyKey,
      verificationMethod: 'EMAIL_OTP',
    });
    expect([stored.verifiedByAuthenticatorId, stored.validatedAt]).toEqual(['email|dev_1', expect.any(Date)]);
    // The track token never validates, even after the challenge passed.
    expect((await validateToken(deps(), 'shop', { token: trackToken })).isValid).toBe(false);
  });

  it('refuses tokens of the wrong kind, tampered, expired or garbage', async () => {
    const { row } = await track('shop', 'pay');
    const { token } = await mintActionToken(keys, 'track', row, 60, new Date(Date.now() - 120_000));
    expect(await readActionToken(keys, 'track', token)).toEqual({ problem: 'expired' });
    const fresh = (await mintActionToken(keys, 'track', row, 60)).token;
    expect(await readActionToken(keys, 'result', fresh)).toEqual({ problem: 'invalid' });
    expect(await readActionToken({ ...keys, cookieKeys: ['z'.repeat(40)] }, 'track', fresh)).toEqual({ problem: 'invalid' });
    expect(await readActionToken({ ...keys, cookieKeys: ['z'.repeat(40), keys.cookieKeys[0]!] }, 'track', fresh)).toMatchObject({
      claims: { kind: 'track', idempotencyKey: row.idempotencyKey },
    });
    expect(await validateToken(deps(), 'shop', { token: 'not.a.jwt' })).toEqual({ isValid: false });
    expect(await validateToken(deps(), 'shop', { token: 42 })).toEqual({ isValid: false });
  });

  it('settles a review once, and a failed challenge stays failed', async () => {
    const { row } = await track('shop', 'wire', { amount: 500 });
    expect(row.state).toBe('REVIEW_REQUIRED');
    const [approve, deny] = await Promise.all([settleReview(db, row, true, 'ops@example.com'), settleReview(db, row, false, 'other@example.com')]);
    expect(approve !== deny).toBe(true);
    const settled = (await findDecision(db, 'shop', row.idempotencyKey))!;
    expect(settled.state).toBe(approve ? 'REVIEW_SUCCEEDED' : 'REVIEW_FAILED');
    const challenged = (await track('shop', 'pay')).row;
    expect(await failChallenge(db, challenged)).toBe(true);
    expect(await passChallenge(deps(), challenged, 'EMAIL_OTP', null)).toBeNull();
  });
});
