// Attacks on the Authsignal server API, on both engines through the real @authsignal/node client: a
// wrong, malformed or retired secret key; one tenant reading, reviewing or validating another's
// action (the same idempotency key in two tenants is two actions); a result token replayed, raced,
// or swapped for the track token; approve raced against deny.
import { describe, expect, it } from 'vitest';
import { passChallenge } from '../../src/passwordless/action-results.js';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { findDecision } from '../../src/storage/action-decisions.js';
import { ENGINES } from '../helpers/databases.js';
import { ISO, authsignalServer, failureOf, raw } from './authsignal-fixture.js';

const UNAUTHORIZED = {
  status: 401,
  error: 'unauthorized',
  errorDescription: 'The request is unauthorized. Check that your API key and region base URL are correctly configured.',
};

describe.each(ENGINES)('Authsignal server API attacks on %s', (engine) => {
  const s = authsignalServer(engine);
  const services = () => s.t.sesame.services;

  /** Tracks `pay` (a challenge) for the tenant and passes it as the page would; the result token. */
  async function passed(tenant: { id: string; client: { track: (r: never) => Promise<{ idempotencyKey: string; token: string }> } }, userId: string) {
    const tracked = await tenant.client.track({ userId, action: 'pay' } as never);
    const row = (await findDecision(services().db, tenant.id, tracked.idempotencyKey))!;
    const deps = { ...services(), issuer: services().config.issuer };
    return { tracked, result: (await passChallenge(deps, row, 'EMAIL_OTP', 'email|dev_1'))! };
  }

  it('answers a missing, malformed, wrong or retired secret key with Authsignal 401', async () => {
    const { id, secret, client } = await s.tenant();
    await client.track({ userId: 'ann', action: 'pay' });
    const wrong = `${secret.slice(0, -2)}${secret.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const bad of [wrong, 'sk_short', '', `${secret}x`]) {
      expect([bad, await failureOf(s.client(bad).queryUserActions({ userId: 'ann' }))]).toEqual([bad, UNAUTHORIZED]);
    }
    expect(await raw(s.t, null, 'POST', '/validate', '{}')).toEqual({ status: 401, body: { error: UNAUTHORIZED.error, errorDescription: UNAUTHORIZED.errorDescription } });
    // A new secret retires the old one at once.
    const rotated = await issueTenantSecret(services().db, id);
    expect(await failureOf(client.track({ userId: 'ann', action: 'pay' }))).toEqual(UNAUTHORIZED);
    expect(await s.client(rotated).queryUserActions({ userId: 'ann' })).toHaveLength(1);
  });

  it("keeps each tenant's actions its own, even under one idempotency key", async () => {
    const a = await s.tenant();
    const b = await s.tenant();
    const inA = await a.client.track({ userId: 'ann', action: 'wire', attributes: { idempotencyKey: 'order-1', custom: { amount: 500 } } });
    const inB = await b.client.track({ userId: 'ann', action: 'wire', attributes: { idempotencyKey: 'order-1', custom: { amount: 1 } } });
    expect([inA.state, inB.state]).toEqual(['REVIEW_REQUIRED', 'ALLOW']);
    const key = { userId: 'ann', action: 'wire', idempotencyKey: 'order-1' };
    // B approving "order-1" reaches its own action (not up for review), never A's.
    expect(await failureOf(b.client.updateAction({ ...key, attributes: { state: 'REVIEW_SUCCEEDED' as never } }))).toMatchObject({ status: 409 });
    expect(await a.client.getAction(key)).toMatchObject({ state: 'REVIEW_REQUIRED' });
    const onlyA = await a.client.track({ userId: 'ann', action: 'wire', attributes: { custom: { amount: 900 } } });
    const notFound = { status: 404, error: 'not_found', errorDescription: 'No action with this idempotency key.' };
    const aKey = { userId: 'ann', action: 'wire', idempotencyKey: onlyA.idempotencyKey };
    expect(await failureOf(b.client.getAction(aKey))).toEqual(notFound);
    expect(await failureOf(b.client.updateAction({ ...aKey, attributes: { state: 'REVIEW_SUCCEEDED' as never } }))).toEqual(notFound);
    expect(await b.client.queryUserActions({ userId: 'ann' })).toEqual([expect.objectContaining({ idempotencyKey: 'order-1', state: 'ALLOW' })]);
    // Within a tenant, an action is reached only through its own user and action code.
    expect(await failureOf(a.client.getAction({ ...aKey, userId: 'bob' }))).toEqual(notFound);
    expect(await failureOf(a.client.getAction({ ...aKey, action: 'pay' }))).toEqual(notFound);
    expect(await a.client.getAction(aKey)).toMatchObject({ state: 'REVIEW_REQUIRED' });
    // Another tenant's result token tells B nothing and is not spent by trying.
    const { result } = await passed(a, 'carol');
    expect(await b.client.validateChallenge({ token: result })).toEqual({ isValid: false });
    expect(await a.client.validateChallenge({ token: result })).toMatchObject({ isValid: true });
  });

  it("refuses idempotency keys of the shape Sesame's own sign-ins use, so no tenant decides one in advance", async () => {
    const a = await s.tenant();
    expect(await failureOf(a.client.track({ userId: 'ann', action: 'signIn', attributes: { idempotencyKey: 'interaction:abc:ann' } }))).toEqual({
      status: 400,
      error: 'invalid_request',
      errorDescription: 'idempotencyKey may not start with "interaction:" (reserved for Sesame\'s own sign-ins).',
    });
    // Nor an API sign-in's: an approved action of the tenant's own there would let a grant's retry through.
    expect(await failureOf(a.client.track({ userId: 'ann', action: 'signIn', attributes: { idempotencyKey: 'grant:abc' } }))).toEqual({
      status: 400,
      error: 'invalid_request',
      errorDescription: 'idempotencyKey may not start with "grant:" (reserved for Sesame\'s own sign-ins).',
    });
  });

  it('validates a result token once; the track token, a bad token or the wrong action never', async () => {
    const tenant = await s.tenant();
    const { tracked, result } = await passed(tenant, 'dan');
    const report = {
      state: 'CHALLENGE_SUCCEEDED',
      stateUpdatedAt: expect.stringMatching(ISO),
      userId: 'dan',
      action: 'pay',
      idempotencyKey: tracked.idempotencyKey,
      verificationMethod: 'EMAIL_OTP',
    };
    expect(await tenant.client.validateChallenge({ token: tracked.token })).toEqual({ ...report, isValid: false });
    expect(await tenant.client.validateChallenge({ token: result, action: 'withdraw' })).toEqual({ ...report, isValid: false });
    expect(await tenant.client.validateChallenge({ token: result, userId: 'eve' })).toEqual({ ...report, isValid: false });
    expect(await tenant.client.validateChallenge({ token: `${result}x` })).toEqual({ isValid: false });
    expect(await tenant.client.validateChallenge({ token: 'not-a-jwt' })).toEqual({ isValid: false });
    expect(await tenant.client.validateChallenge({ token: result, action: 'pay', userId: 'dan' })).toEqual({ ...report, isValid: true });
    expect(await tenant.client.validateChallenge({ token: result })).toEqual({ ...report, isValid: false });
    expect(await tenant.client.getAction({ userId: 'dan', action: 'pay', idempotencyKey: tracked.idempotencyKey })).toMatchObject({
      state: 'CHALLENGE_SUCCEEDED',
      verificationMethod: 'EMAIL_OTP',
    });
  });

  it('validates a result token once when validations race', async () => {
    const tenant = await s.tenant();
    const { result } = await passed(tenant, 'erin');
    const answers = await Promise.all(Array.from({ length: 8 }, () => tenant.client.validateChallenge({ token: result })));
    expect(answers.filter((a) => a.isValid)).toHaveLength(1);
    expect(answers.every((a) => a.state === 'CHALLENGE_SUCCEEDED')).toBe(true);
  });

  it('settles a review once when approve races deny, and audits only the winner', async () => {
    const tenant = await s.tenant();
    const held = await tenant.client.track({ userId: 'fay', action: 'wire', attributes: { custom: { amount: 1000 } } });
    const key = { userId: 'fay', action: 'wire', idempotencyKey: held.idempotencyKey };
    const states = ['REVIEW_SUCCEEDED', 'REVIEW_FAILED', 'REVIEW_SUCCEEDED', 'REVIEW_FAILED', 'REVIEW_SUCCEEDED', 'REVIEW_FAILED'];
    const outcomes = await Promise.all(
      states.map((state) =>
        tenant.client.updateAction({ ...key, attributes: { state: state as never } }).then(
          (view) => ({ ok: true, view }),
          (err: { statusCode: number }) => ({ ok: false, status: err.statusCode }),
        ),
      ),
    );
    const won = outcomes.filter((o) => o.ok);
    expect(won).toHaveLength(1);
    expect(outcomes.filter((o) => !o.ok)).toEqual(Array.from({ length: 5 }, () => ({ ok: false, status: 409 })));
    const final = await tenant.client.getAction(key);
    expect((won[0] as { view: unknown }).view).toEqual(final);
    const audit = await services().db.prisma.auditEvent.findMany({ where: { clientId: tenant.id }, select: { type: true } });
    expect(audit).toEqual([{ type: final.state === 'REVIEW_SUCCEEDED' ? 'action.review.approved' : 'action.review.denied' }]);
  });
});
