// Authsignal's server API through the real @authsignal/node client, on both engines: track (every
// outcome, idempotent by key, the user's address from the app), getAction, queryUserActions and its
// filters, updateAction to review and back; odd user ids the SDK sends unencoded; bad input is a 400
// naming the field, never a 500; one tenant cannot flood the track endpoint.
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { tenantUserId } from '../../src/passwordless/action-users.js';
import { confirmTotp, enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { describe, expect, it } from 'vitest';
import { findDecision } from '../../src/storage/action-decisions.js';
import { ENGINES } from '../helpers/databases.js';
import { BLOCKED_IP, ISO, TRACKS_PER_MINUTE, UUID, authsignalServer, failureOf, raw } from './authsignal-fixture.js';

const invalid = (errorDescription: string) => ({ status: 400, error: 'invalid_request', errorDescription });

describe.each(ENGINES)('Authsignal server API on %s', (engine) => {
  const s = authsignalServer(engine);

  it('tracks a challenge with a page URL and token, and answers a retry with the same decision', async () => {
    const { id, client } = await s.tenant();
    const userId = `u-${randomUUID()}`;
    const first = await client.track({ userId, action: 'pay', attributes: { redirectUrl: 'https://shop.example/done', email: 'ann@example.com' } });
    expect(first).toEqual({
      state: 'CHALLENGE_REQUIRED',
      idempotencyKey: expect.stringMatching(UUID),
      url: `${s.t.issuer}/v1/ui?token=${first.token}`,
      token: expect.any(String),
      isEnrolled: false,
      enrolledVerificationMethods: [],
      allowedVerificationMethods: ['EMAIL_OTP', 'PASSKEY'],
      defaultVerificationMethod: 'EMAIL_OTP',
      ruleIds: [],
    });
    expect(decodeJwt(first.token)).toMatchObject({ sub: userId, aud: id, other: { tenantId: id, userId, actionCode: 'pay', idempotencyKey: first.idempotencyKey } });
    const again = await client.track({ userId, action: 'pay', attributes: { idempotencyKey: first.idempotencyKey } });
    expect(again).toEqual({ ...first, token: expect.any(String), url: expect.stringContaining('/v1/ui?token=') });
    expect(again.token).not.toBe(first.token);
    // The key names one action: reusing it for another user or action is refused, not answered with that one.
    expect(await failureOf(client.track({ userId: 'someone-else', action: 'pay', attributes: { idempotencyKey: first.idempotencyKey } }))).toEqual({
      status: 409,
      error: 'conflict',
      errorDescription: 'This idempotencyKey was already used for another user or action.',
    });
    const row = await findDecision(s.t.sesame.services.db, id, first.idempotencyKey);
    expect([row?.redirectUrl, JSON.parse(row!.context).email, row?.ip]).toEqual(['https://shop.example/done', 'ann@example.com', '127.0.0.1']);
  });

  it('decides on the address the app sends, and reports the rules that matched', async () => {
    const { client } = await s.tenant();
    const blocked = await client.track({ userId: 'bob', action: 'login', attributes: { ipAddress: BLOCKED_IP, idempotencyKey: 'k-1' } });
    expect(blocked).toMatchObject({ state: 'BLOCK', idempotencyKey: 'k-1', ruleIds: ['bad-ip'], allowedVerificationMethods: [] });
    expect(blocked).not.toHaveProperty('defaultVerificationMethod');
    expect(await client.getAction({ userId: 'bob', action: 'login', idempotencyKey: 'k-1' })).toEqual({
      state: 'BLOCK',
      stateUpdatedAt: expect.stringMatching(ISO),
      createdAt: expect.stringMatching(ISO),
      rules: [{ ruleId: 'bad-ip', name: 'Known bad address' }],
    });
    expect(await client.track({ userId: 'bob', action: 'login', attributes: { ipAddress: '2001:db8::1' } })).toMatchObject({ state: 'ALLOW', ruleIds: [] });
    // Without an address from the app the caller's own counts (here the test, on loopback).
    expect(await client.track({ userId: 'bob', action: 'login' })).toMatchObject({ state: 'ALLOW' });
    // An action without a policy is allowed.
    expect(await client.track({ userId: 'bob', action: 'no-policy' })).toMatchObject({ state: 'ALLOW', ruleIds: [], allowedVerificationMethods: [] });
  });

  it("reports the user's methods: the tenant's own user's, or a Sesame user's who signed in to that client", async () => {
    const { id, client } = await s.tenant();
    const services = s.t.sesame.services;
    /** An authenticator app enrolled and confirmed for the Sesame user `userId`. */
    const enrolApp = async (userId: string) => {
      const { authenticatorId, secret } = await enrolTotp(services, userId);
      const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate();
      expect(await confirmTotp(services, userId, authenticatorId, code)).toMatchObject({ ok: true });
    };
    expect(await client.track({ userId: 'gus', action: 'pay' })).toMatchObject({ isEnrolled: false, enrolledVerificationMethods: [] });
    await enrolApp(tenantUserId(id, 'gus'));
    expect(await client.track({ userId: 'gus', action: 'pay' })).toMatchObject({ isEnrolled: true, enrolledVerificationMethods: ['AUTHENTICATOR_APP'] });
    // Another tenant naming this tenant's user by its Sesame id reaches a user of its own.
    expect(await (await s.tenant()).client.track({ userId: tenantUserId(id, 'gus'), action: 'pay' })).toMatchObject({ isEnrolled: false });
    // A Sesame user's id is that person only for a client they signed in to (a grant of it).
    const person = await upsertVerifiedEmailUser(services.db, `p-${randomUUID()}@example.com`);
    await enrolApp(person.id);
    expect(await client.track({ userId: person.id, action: 'pay' })).toMatchObject({ isEnrolled: false, enrolledVerificationMethods: [] });
    await services.db.prisma.oidcPayload.create({
      data: { model: 'Grant', id: randomUUID(), accountId: person.id, payload: JSON.stringify({ accountId: person.id, clientId: id }) },
    });
    const other = await s.tenant();
    const tracked = await client.track({ userId: person.id, action: 'pay' });
    expect(tracked).toMatchObject({ isEnrolled: true, enrolledVerificationMethods: ['AUTHENTICATOR_APP'] });
    expect((await findDecision(services.db, id, tracked.idempotencyKey))?.principalId).toBe(person.id);
    expect(await other.client.track({ userId: person.id, action: 'pay' })).toMatchObject({ isEnrolled: false });
  });

  it('stores one decision when tracks with one key race, and answers it to all', async () => {
    const { id, client } = await s.tenant();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => client.track({ userId: 'hal', action: 'wire', attributes: { idempotencyKey: 'race-1', custom: { amount: 200 } } })),
    );
    expect(new Set(answers.map((a) => `${a.idempotencyKey} ${a.state} ${a.ruleIds?.join()}`))).toEqual(new Set(['race-1 REVIEW_REQUIRED big']));
    expect(await s.t.sesame.services.db.prisma.actionDecision.count({ where: { tenantId: id } })).toBe(1);
  });

  it('holds a review, settles it once through updateAction, and can put any allowed action up for review', async () => {
    const { id, client } = await s.tenant();
    const held = await client.track({ userId: 'carol', action: 'wire', attributes: { custom: { amount: 500 } } });
    expect(held).toMatchObject({ state: 'REVIEW_REQUIRED', ruleIds: ['big'] });
    const key = { userId: 'carol', action: 'wire', idempotencyKey: held.idempotencyKey };
    const approved = await client.updateAction({ ...key, attributes: { state: 'REVIEW_SUCCEEDED' as never } });
    const view = await client.getAction(key);
    expect(approved).toEqual(view);
    expect(view).toEqual({
      state: 'REVIEW_SUCCEEDED',
      stateUpdatedAt: expect.stringMatching(ISO),
      createdAt: expect.stringMatching(ISO),
      rules: [{ ruleId: 'big', name: 'Big transfer', description: 'Over 100 is looked at by a person.' }],
    });
    expect(await failureOf(client.updateAction({ ...key, attributes: { state: 'REVIEW_FAILED' as never } }))).toEqual({
      status: 409,
      error: 'conflict',
      errorDescription: 'The action is not in a state that can become REVIEW_FAILED (only from REVIEW_REQUIRED).',
    });
    const db = s.t.sesame.services.db;
    expect((await findDecision(db, id, held.idempotencyKey))?.reviewedBy).toBe(`api:${id}`);
    const audit = await db.prisma.auditEvent.findMany({ where: { clientId: id }, select: { type: true, reason: true, identifier: true } });
    expect(audit).toEqual([{ type: 'action.review.approved', reason: 'via api', identifier: (await findDecision(db, id, held.idempotencyKey))!.id }]);
    // As on Authsignal's live API: an allowed action can be held for review afterwards.
    const small = await client.track({ userId: 'carol', action: 'wire', attributes: { custom: { amount: 5 } } });
    const smallKey = { userId: 'carol', action: 'wire', idempotencyKey: small.idempotencyKey };
    expect(await client.updateAction({ ...smallKey, attributes: { state: 'REVIEW_REQUIRED' as never } })).toMatchObject({ state: 'REVIEW_REQUIRED', rules: [] });
    expect(await client.getAction(smallKey)).toMatchObject({ state: 'REVIEW_REQUIRED' });
    expect(await failureOf(client.updateAction({ ...smallKey, attributes: { state: 'ALLOW' as never } }))).toEqual(
      invalid('state must be one of REVIEW_REQUIRED, REVIEW_SUCCEEDED, REVIEW_FAILED.'),
    );
    const blocked = await client.track({ userId: 'carol', action: 'login', attributes: { ipAddress: BLOCKED_IP } });
    const refused = await failureOf(
      client.updateAction({ userId: 'carol', action: 'login', idempotencyKey: blocked.idempotencyKey, attributes: { state: 'REVIEW_REQUIRED' as never } }),
    );
    expect(refused).toMatchObject({ status: 409, error: 'conflict' });
  });

  it("lists a user's actions newest first, filtered by date, codes and state", async () => {
    const { client } = await s.tenant();
    const pay = await client.track({ userId: 'dan', action: 'pay' });
    const wire = await client.track({ userId: 'dan', action: 'wire', attributes: { custom: { amount: 1000 } } });
    await client.track({ userId: 'erin', action: 'pay' });
    const all = await client.queryUserActions({ userId: 'dan' });
    expect(all).toEqual([
      {
        actionCode: 'wire',
        idempotencyKey: wire.idempotencyKey,
        state: 'REVIEW_REQUIRED',
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        stateUpdatedAt: expect.stringMatching(ISO),
      },
      {
        actionCode: 'pay',
        idempotencyKey: pay.idempotencyKey,
        state: 'CHALLENGE_REQUIRED',
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        stateUpdatedAt: expect.stringMatching(ISO),
      },
    ]);
    expect((await client.queryUserActions({ userId: 'dan', actionCodes: ['pay', 'other'] })).map((a) => a.idempotencyKey)).toEqual([pay.idempotencyKey]);
    expect((await client.queryUserActions({ userId: 'dan', state: 'REVIEW_REQUIRED' as never })).map((a) => a.idempotencyKey)).toEqual([wire.idempotencyKey]);
    expect(await client.queryUserActions({ userId: 'dan', fromDate: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
    expect(await client.queryUserActions({ userId: 'nobody' })).toEqual([]);
    expect(await failureOf(client.queryUserActions({ userId: 'dan', fromDate: 'yesterday' }))).toEqual(invalid('fromDate must be an ISO 8601 date.'));
    expect(await failureOf(client.queryUserActions({ userId: 'dan', state: 'DONE' as never }))).toMatchObject({ status: 400, error: 'invalid_request' });
    expect(await failureOf(client.queryUserActions({ userId: 'dan', actionCodes: ['pay!'] }))).toEqual(invalid('codes must be action codes separated by commas.'));
  });

  it('takes the user ids the SDK sends unencoded, and answers odd input with a 400 naming the field', async () => {
    const { id, secret, client } = await s.tenant();
    for (const userId of ['user@example.com', 'a b', 'Zoë+1', 'auth0|123', 'x'.repeat(255)]) {
      const tracked = await client.track({ userId, action: 'pay' });
      expect(await client.getAction({ userId, action: 'pay', idempotencyKey: tracked.idempotencyKey })).toMatchObject({ state: 'CHALLENGE_REQUIRED' });
      expect((await findDecision(s.t.sesame.services.db, id, tracked.idempotencyKey))?.userId).toBe(userId);
    }
    const userIdProblem = invalid('userId must be 1 to 255 characters without control characters or surrounding spaces.');
    expect(await failureOf(client.track({ userId: 'x'.repeat(256), action: 'pay' }))).toEqual(userIdProblem);
    expect(await raw(s.t, secret, 'POST', '/users/a%00b/actions/pay', '{}')).toEqual({
      status: 400,
      body: { error: 'invalid_request', errorDescription: userIdProblem.errorDescription },
    });
    expect(await raw(s.t, secret, 'POST', '/users/%20a/actions/pay', '{}')).toMatchObject({ status: 400 });
    expect(await failureOf(client.track({ userId: 'ann', action: 'pay!' }))).toEqual(invalid('action must be 1 to 64 letters, digits, "_", ".", ":" or "-".'));
    const bodies: [string, string][] = [
      ['[]', 'The body must be a JSON object.'],
      ['{"ipAddress":"not-an-ip"}', 'ipAddress must be an IPv4 or IPv6 address.'],
      ['{"redirectUrl":"javascript:alert(1)"}', 'redirectUrl must be an absolute http or https URL.'],
      ['{"email":"a\\u0000b@example.com"}', 'email must be a string of at most 320 characters.'],
      ['{"deviceId":42}', 'deviceId must be a string of at most 255 characters.'],
      ['{"custom":[1]}', 'custom must be a JSON object.'],
      ['{"custom":{"note":"a\\u0000"}}', 'custom must not contain NUL characters.'],
      ['{"idempotencyKey":""}', 'idempotencyKey must be 1 to 255 characters without control characters.'],
    ];
    for (const [body, errorDescription] of bodies) {
      expect([body, await raw(s.t, secret, 'POST', '/users/ann/actions/pay', body)]).toEqual([body, { status: 400, body: { error: 'invalid_request', errorDescription } }]);
    }
    expect(await raw(s.t, secret, 'POST', '/users/ann/actions/pay', '{"email":')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const notFound = { status: 404, body: { error: 'not_found', errorDescription: 'No action with this idempotency key.' } };
    expect(await raw(s.t, secret, 'GET', '/users/ann/actions/pay/a%00b')).toEqual(notFound);
    expect(await raw(s.t, secret, 'PATCH', '/users/ann/actions/pay/nope', '{"state":"REVIEW_FAILED"}')).toEqual(notFound);
    expect(await raw(s.t, secret, 'POST', '/validate', '"token"')).toEqual({
      status: 400,
      body: { error: 'invalid_request', errorDescription: 'The request body is not valid JSON.' },
    });
  });

  it('refuses a tenant tracking more than its limit a minute, and only that tenant', async () => {
    const flooding = await s.tenant();
    const calm = await s.tenant();
    const tracks = Array.from({ length: TRACKS_PER_MINUTE }, (_, i) => flooding.client.track({ userId: `u${i}`, action: 'login' }));
    expect((await Promise.all(tracks)).every((r) => r.state === 'ALLOW')).toBe(true);
    expect(await failureOf(flooding.client.track({ userId: 'one-more', action: 'login' }))).toEqual({
      status: 429,
      error: 'too_many_requests',
      errorDescription: expect.stringMatching(/^Too many actions tracked; wait \d+ s\.$/),
    });
    expect(await calm.client.track({ userId: 'u0', action: 'login' })).toMatchObject({ state: 'ALLOW' });
  });
});
