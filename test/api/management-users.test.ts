// The management API's users area on a running server, on both databases: search with a cursor, read,
// rename, export, sessions and grants, erasure; every answer checked against the served OpenAPI
// document. The attacks: a users:read token cannot write, another area's token cannot read users,
// a non-management client's token gets nothing, unknown ids and another user's grant answer 404 and
// touch nothing, bad input is a 400 naming the field.
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/storage/audit.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { documentedApi, otpSignIn, tokenOf, usersFixture, type Answer } from './management-users-fixture.js';

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT/);

describe.each(ENGINES)('the users area of the management API on %s', (engine) => {
  let t: TestSesame;
  let api: (method: string, path: string, bearer: string | null, body?: unknown) => Promise<Answer>;
  let reader: string;
  let writer: string;
  beforeAll(async () => {
    t = await startTestSesame(engine, usersFixture);
    api = await documentedApi(t);
    reader = await tokenOf(t, 'users:read');
    writer = await tokenOf(t, 'users:write users:read');
  });
  afterAll(() => t?.stop());

  const mark = randomUUID().slice(0, 8);
  const user = (id: string, email: string | null, more: Record<string, unknown> = {}) => ({
    id,
    email,
    emailVerified: true,
    phoneNumber: null,
    phoneVerified: false,
    name: null,
    blocked: false,
    blockedAt: null,
    createdAt: ISO,
    updatedAt: ISO,
    ...more,
  });

  it('searches by exact email, by part, a page at a time with a cursor, and reads one user', async () => {
    const made = await Promise.all([1, 2, 3].map((n) => upsertVerifiedEmailUser(t.sesame.services.db, `s${n}-${mark}@example.com`)));
    const ids = made.map((u) => u.id).sort();
    const byEmail = await api('GET', `/users?email=S2-${mark}@Example.com`, reader);
    expect(byEmail).toEqual({ status: 200, body: { users: [user(made[1]!.id, `s2-${mark}@example.com`)], next: null } });

    const first = await api('GET', `/users?q=${mark}&limit=2`, reader);
    expect([first.status, first.body.users.map((u: { id: string }) => u.id), first.body.next]).toEqual([200, ids.slice(0, 2), ids[1]]);
    const second = await api('GET', `/users?q=${mark}&limit=2&after=${first.body.next}`, reader);
    expect([second.status, second.body.users.map((u: { id: string }) => u.id), second.body.next]).toEqual([200, ids.slice(2), null]);

    expect(await api('GET', `/users/${made[0]!.id}`, reader)).toEqual({ status: 200, body: user(made[0]!.id, `s1-${mark}@example.com`) });
    const phone = await upsertVerifiedPhoneUser(t.sesame.services.db, '+14155550177');
    const byPhone = await api('GET', `/users?phone=${encodeURIComponent('+1 415 555 0177')}`, reader);
    expect(byPhone).toEqual({
      status: 200,
      body: { users: [user(phone.id, null, { emailVerified: false, phoneNumber: '+14155550177', phoneVerified: true })], next: null },
    });
  });

  it('refuses bad search input with a 400 naming the parameter', async () => {
    const bad = (detail: string) => ({ status: 400, body: { error: 'invalid_request', error_description: detail } });
    expect(await api('GET', '/users?email=nope', reader)).toEqual(bad('email: not an email address.'));
    expect(await api('GET', '/users?phone=12', reader)).toEqual(bad('phone: not a phone number in E.164 form.'));
    expect(await api('GET', '/users?limit=1000', reader)).toEqual(bad('limit: Too big: expected number to be <=100.'));
    expect(await api('GET', '/users?dump=all', reader)).toEqual(bad('query: Unrecognized key: "dump".'));
  });

  it('renames a user (null clears), audited with the management client; a bad name is a 400 naming the field', async () => {
    const { id } = await upsertVerifiedEmailUser(t.sesame.services.db, `rename-${mark}@example.com`);
    expect(await api('PATCH', `/users/${id}`, writer, { name: '  Ada Lovelace ' })).toEqual({
      status: 200,
      body: user(id, `rename-${mark}@example.com`, { name: 'Ada Lovelace' }),
    });
    expect(await api('PATCH', `/users/${id}`, writer, { name: null })).toEqual({ status: 200, body: user(id, `rename-${mark}@example.com`) });
    expect(await api('PATCH', `/users/${id}`, writer, { name: 'a\nb' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'name: must be 1 to 100 characters without control characters or line breaks, or null.' },
    });
    expect(await api('PATCH', `/users/${id}`, writer, { name: 'x', email: 'evil@example.com' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'body: Unrecognized key: "email".' },
    });
    const audit = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { userId: id, type: 'user.updated' } });
    expect(audit.map((a) => [a.clientId, a.reason])).toEqual([
      ['ops', 'name via management_api'],
      ['ops', 'name via management_api'],
    ]);
  });

  it('lists and revokes grants and exports the user; a revoked grant ends its refresh token; another user cannot be reached', async () => {
    const email = `grants-${mark}@example.com`;
    const { rp, tokens, userId } = await otpSignIn(t, email);
    const other = await otpSignIn(t, `other-${mark}@example.com`);
    const grants = await api('GET', `/users/${userId}/grants`, reader);
    expect(grants).toEqual({
      status: 200,
      body: { grants: [{ id: expect.any(String), clientId: 'native', scope: 'openid email offline_access', grantedAt: ISO, expiresAt: ISO }] },
    });
    const otherGrant = (await api('GET', `/users/${other.userId}/grants`, reader)).body.grants[0].id as string;

    const exported = await api('GET', `/users/${userId}/export`, reader);
    expect(exported.status).toBe(200);
    expect(exported.body).toMatchObject({ profile: user(userId, email), factors: [], passkeys: [], sessions: [], grants: grants.body.grants });
    expect(exported.body.audit.map((e: { type: string }) => e.type)).toContain('login');

    const notHis = { status: 404, body: { error: 'not_found', error_description: 'This user has no grant with this id.' } };
    expect(await api('DELETE', `/users/${userId}/grants/${otherGrant}`, writer)).toEqual(notHis);
    expect((await oidc.refreshTokenGrant(other.rp, other.tokens.refresh_token!)).access_token).toEqual(expect.any(String));

    expect(await api('DELETE', `/users/${userId}/grants/${grants.body.grants[0].id}`, writer)).toEqual({ status: 204, body: null });
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    expect(await api('GET', `/users/${userId}/grants`, reader)).toEqual({ status: 200, body: { grants: [] } });
    expect(await api('DELETE', `/users/${userId}/sessions/no-such-session`, writer)).toEqual({
      status: 404,
      body: { error: 'not_found', error_description: 'This user has no live session with this id.' },
    });
  });

  it('erases a user: sign-in data gone, refresh refused, the audit kept under the pseudonymous id without identifier or IP', async () => {
    const email = `erase-${mark}@example.com`;
    const { rp, tokens, userId } = await otpSignIn(t, email);
    // As sign-up.ts words it when an address changes hands: the reason names the address.
    await recordAudit(t.sesame.services.db, { type: 'account.sessions_ended', userId, identifier: email, reason: `1 sessions and grants made before ${email} was proven` });
    expect(await api('DELETE', `/users/${userId}`, writer)).toEqual({ status: 204, body: null });
    const db = t.sesame.services.db.prisma;
    expect(await db.user.findUnique({ where: { id: userId } })).toBeNull();
    expect(await db.oidcPayload.count({ where: { OR: [{ accountId: userId }, { payload: { contains: userId } }] } })).toBe(0);
    expect(await db.oneTimeCode.count({ where: { identifier: email } })).toBe(0);
    expect(await db.outboxMessage.count({ where: { recipient: email } })).toBe(0);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const audit = await db.auditEvent.findMany({ where: { OR: [{ userId }, { identifier: email }] } });
    expect(audit.length).toBeGreaterThan(1);
    expect(audit.every((e) => e.userId === userId && e.identifier === null && e.userAgent === null && !e.reason?.includes(email))).toBe(true);
    expect(audit.find((e) => e.type === 'account.sessions_ended')?.reason).toBeNull();
    // The user's addresses are gone; the one IP left is the management caller's, on the deletion's own row.
    expect(audit.filter((e) => e.ip !== null).map((e) => [e.type, e.clientId, e.reason])).toEqual([['user.deleted', 'ops', 'via management_api']]);
    expect(await api('GET', `/users/${userId}`, reader)).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
  });

  it('answers 404 with the whole body for unknown or odd ids on every user route', async () => {
    const missing = { status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } };
    for (const id of [randomUUID(), 'nul%00byte']) {
      for (const [method, path, body] of [
        ['GET', ''],
        ['PATCH', '', { name: 'x' }],
        ['POST', '/block'],
        ['POST', '/unblock'],
        ['DELETE', ''],
        ['GET', '/export'],
        ['GET', '/sessions'],
        ['DELETE', '/sessions/s1'],
        ['GET', '/grants'],
        ['DELETE', '/grants/g1'],
      ] as const) {
        expect(await api(method, `/users/${id}${path}`, writer, body), `${method} ${path}`).toEqual(missing);
      }
    }
  });

  it('needs the route’s scope: users:read cannot write, another area cannot read users, a plain client gets nothing', async () => {
    const { id } = await upsertVerifiedEmailUser(t.sesame.services.db, `scoped-${mark}@example.com`);
    const lacks = (scope: string) => ({ status: 403, body: { error: 'insufficient_scope', error_description: `The access token lacks the scope ${scope} (or admin).` } });
    for (const [method, path] of [
      ['PATCH', `/users/${id}`],
      ['POST', `/users/${id}/block`],
      ['POST', `/users/${id}/unblock`],
      ['DELETE', `/users/${id}`],
      ['DELETE', `/users/${id}/passkeys`],
      ['DELETE', `/users/${id}/grants/g1`],
    ] as const) {
      expect(await api(method, path, reader, method === 'PATCH' ? { name: 'x' } : undefined), `${method} ${path}`).toEqual(lacks('users:write'));
    }
    const clientsOnly = await tokenOf(t, 'clients:read');
    expect(await api('GET', '/users?q=a', clientsOnly)).toEqual(lacks('users:read'));
    expect(await api('GET', `/users/${id}/export`, clientsOnly)).toEqual(lacks('users:read'));
    expect((await api('GET', '/clients', clientsOnly)).status).toBe(200);
    expect(await api('POST', '/links/revoke', clientsOnly, { email: 'a@example.com' })).toEqual(lacks('links:write'));
    expect((await api('GET', `/users/${id}`, await tokenOf(t, 'admin'))).status).toBe(200);
    expect(await t.sesame.services.db.prisma.user.findUnique({ where: { id }, select: { name: true, blockedAt: true } })).toEqual({ name: null, blockedAt: null });

    const rp = await oidc.discovery(new URL(t.issuer), 'backend', undefined, oidc.ClientSecretPost(usersFixture.clients[2]!.client_secret!), {
      execute: [oidc.allowInsecureRequests],
    });
    await expect(oidc.clientCredentialsGrant(rp, { audience: `${t.issuer}/api/v1/`, scope: 'users:read' })).rejects.toMatchObject({ error: 'invalid_target' });
    const plain = (await oidc.clientCredentialsGrant(rp, {})).access_token;
    expect((await api('GET', '/users?q=a', plain)).status).toBe(401);
    const userToken = (await otpSignIn(t, `user-token-${mark}@example.com`)).tokens.access_token;
    expect((await api('GET', `/users/${id}`, userToken)).status).toBe(401);
  });
});
