// A user's second factors through the management API on a running server (support: "I lost my
// phone and my recovery codes"): list, remove one, reset all; each audited with the management
// client; a removed factor no longer verifies; another user's authenticator cannot be reached through
// a user id; odd ids answer 404, never a 500; nobody but an admin client-credentials token gets in.
import { randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFactorCode } from '../../src/passwordless/mfa/factors.js';
import type { MfaDeps } from '../../src/passwordless/mfa/keys.js';
import { enrolOob } from '../../src/passwordless/mfa/oob.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { documentedCall } from '../helpers/openapi.js';
import { clientCredentialsToken } from '../helpers/login.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const BACKEND_SECRET = 'backend-secret-backend-secret-xx';
const fixture = {
  clients: [
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    { client_id: 'backend', client_secret: BACKEND_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
  ],
};
const WHO = { ip: '127.0.0.1' };
const codeOf = (secret: string, at: Date) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: at.getTime() });

describe.each(ENGINES)('user authenticators in the management API on %s', (engine) => {
  let t: TestSesame;
  let token: string;
  let deps: MfaDeps;
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture);
    token = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
    deps = t.sesame.services;
  });
  afterAll(() => t?.stop());

  const api = (method: string, path: string, bearer: string | null = token) => documentedCall(t.url, method, path, bearer);
  const path = (userId: string, authenticatorId?: string) => `/users/${userId}/authenticators${authenticatorId ? `/${encodeURIComponent(authenticatorId)}` : ''}`;

  /** A user with an authenticator app (confirmed by a computed code), recovery codes and an unfinished SMS enrolment. */
  async function userWithFactors() {
    const user = await upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);
    const enrolled = new Date(Date.now() - 120_000);
    const app = await enrolTotp(deps, user.id, enrolled);
    expect(await checkFactorCode(deps, user.id, { type: 'otp', code: codeOf(app.secret, enrolled), confirming: app.authenticatorId }, WHO, enrolled)).toMatchObject({ ok: true });
    const recovery = await generateRecoveryCodes(deps, user.id, new Date(enrolled.getTime() + 1000));
    const sms = await enrolOob(deps, user.id, { type: 'sms', phoneNumber: '+14155550123' }, new Date(enrolled.getTime() + 2000));
    return { userId: user.id, app, recovery, smsId: sms.id, enrolled };
  }

  const audits = (userId: string) =>
    deps.db.prisma.auditEvent
      .findMany({ where: { userId, type: { in: ['mfa.removed', 'mfa.reset'] } }, orderBy: { createdAt: 'asc' } })
      .then((rows) => rows.map((e) => ({ type: e.type, clientId: e.clientId, reason: e.reason })));
  const stored = async (userId: string) => (await deps.db.prisma.authenticator.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } })).map((a) => a.id);

  it("lists a user's factors oldest first, with what support needs and no secret; the keys are the document's", async () => {
    const { userId, app, recovery, smsId, enrolled } = await userWithFactors();
    const at = (ms: number) => new Date(enrolled.getTime() + ms).toISOString();
    const listed = await api('GET', path(userId));
    expect(listed).toEqual({
      status: 200,
      body: {
        authenticators: [
          { id: app.authenticatorId, type: 'totp', confirmed: true, name: null, phoneNumber: null, email: null, createdAt: at(0), lastUsedAt: at(0), remaining: null },
          {
            id: recovery.authenticatorId,
            type: 'recovery-code',
            confirmed: true,
            name: null,
            phoneNumber: null,
            email: null,
            createdAt: at(1000),
            lastUsedAt: null,
            remaining: 10,
          },
          { id: smsId, type: 'sms', confirmed: false, name: null, phoneNumber: '+14155550123', email: null, createdAt: at(2000), lastUsedAt: null, remaining: null },
        ],
      },
    });
    expect(JSON.stringify(listed.body)).not.toContain(app.secret);
    const schema = ((await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as any).paths['/users/{id}/authenticators'].get.responses['200'].content['application/json'].schema
      .properties.authenticators.items;
    expect([Object.keys(listed.body.authenticators[0]).sort(), [...schema.required].sort()]).toEqual([
      Object.keys(schema.properties).sort(),
      Object.keys(schema.properties).sort(),
    ]);

    const bare = await upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);
    expect(await api('GET', path(bare.id))).toEqual({ status: 200, body: { authenticators: [] } });
    expect(await api('GET', path('no-such-user'))).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
  });

  it('removes one factor by its URL-encoded id, audited with the client: its codes stop working, the others stay', async () => {
    const { userId, app, recovery, smsId } = await userWithFactors();
    expect(await api('DELETE', path(userId, app.authenticatorId))).toEqual({ status: 204, body: null });
    expect(await stored(userId)).toEqual([recovery.authenticatorId, smsId]);
    expect(await checkFactorCode(deps, userId, { type: 'otp', code: codeOf(app.secret, new Date()) }, WHO)).toEqual({ ok: false, reason: 'not_enrolled' });
    // The recovery-code authenticator takes its codes with it.
    expect(await api('DELETE', path(userId, recovery.authenticatorId))).toEqual({ status: 204, body: null });
    expect(await deps.db.prisma.recoveryCode.count({ where: { userId } })).toBe(0);
    expect(await checkFactorCode(deps, userId, { type: 'recovery-code', code: recovery.codes[0]! }, WHO)).toEqual({ ok: false, reason: 'wrong' });
    expect(await audits(userId)).toEqual([
      { type: 'mfa.removed', clientId: 'ops', reason: `${app.authenticatorId} via management_api` },
      { type: 'mfa.removed', clientId: 'ops', reason: `${recovery.authenticatorId} via management_api` },
    ]);
    // The same id again: already gone.
    expect(await api('DELETE', path(userId, app.authenticatorId))).toEqual({
      status: 404,
      body: { error: 'not_found', error_description: 'This user has no authenticator with this id.' },
    });
  });

  it("answers 404 for another user's authenticator and removes nothing (the attack: any user id, a victim's factor id)", async () => {
    const victim = await userWithFactors();
    const attacker = await userWithFactors();
    const before = await stored(victim.userId);
    for (const id of [victim.app.authenticatorId, victim.recovery.authenticatorId, victim.smsId]) {
      expect(await api('DELETE', path(attacker.userId, id))).toEqual({
        status: 404,
        body: { error: 'not_found', error_description: 'This user has no authenticator with this id.' },
      });
      expect(await api('DELETE', path('no-such-user', id))).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
    }
    expect(await api('DELETE', path('no-such-user'))).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
    expect([await stored(victim.userId), await audits(victim.userId), await audits(attacker.userId)]).toEqual([before, [], []]);
    expect(await deps.db.prisma.recoveryCode.count({ where: { userId: victim.userId, usedAt: null } })).toBe(10);
  });

  it('resets every factor and recovery code of a user, one mfa.reset row, and leaves other users alone', async () => {
    const { userId, app, recovery, smsId } = await userWithFactors();
    const other = await userWithFactors();
    expect(await api('DELETE', path(userId))).toEqual({ status: 200, body: { removed: [app.authenticatorId, recovery.authenticatorId, smsId] } });
    expect(await api('GET', path(userId))).toEqual({ status: 200, body: { authenticators: [] } });
    expect(await deps.db.prisma.recoveryCode.count({ where: { userId } })).toBe(0);
    expect(await audits(userId)).toEqual([{ type: 'mfa.reset', clientId: 'ops', reason: '3 via management_api' }]);
    expect(await api('DELETE', path(userId))).toEqual({ status: 200, body: { removed: [] } });
    expect(await stored(other.userId)).toEqual([other.app.authenticatorId, other.recovery.authenticatorId, other.smsId]);
  });

  it('answers 404, never a 500, for ids no user or authenticator can have', async () => {
    const { userId } = await userWithFactors();
    const before = await stored(userId);
    const notFound = (description: string) => ({ status: 404, body: { error: 'not_found', error_description: description } });
    for (const odd of ['%00', 'a%00b', 'x'.repeat(2000), '%F0%9F%94%91', '..%2F..%2Fclients', 'totp%7C', 'totp%7Cdev_%00', '%E0%A4%A']) {
      expect([odd, await api('GET', `/users/${odd}/authenticators`)]).toEqual([odd, notFound('No user with this id.')]);
      expect([odd, await api('DELETE', `/users/${userId}/authenticators/${odd}`)]).toEqual([odd, notFound('This user has no authenticator with this id.')]);
    }
    expect(await stored(userId)).toEqual(before);
  });

  it('refuses every authenticator route without a token, with a token lacking the admin scope and with a non-management token', async () => {
    const { userId, app } = await userWithFactors();
    const noAdmin = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/` });
    const backend = await clientCredentialsToken(t, 'backend', BACKEND_SECRET);
    const before = await stored(userId);
    for (const [method, route] of [
      ['GET', path(userId)],
      ['DELETE', path(userId, app.authenticatorId)],
      ['DELETE', path(userId)],
    ] as const) {
      expect(await api(method, route, null)).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'A bearer token for the management API is required.' } });
      const needed = method === 'GET' ? 'users:read' : 'users:write';
      expect(await api(method, route, noAdmin)).toEqual({
        status: 403,
        body: { error: 'insufficient_scope', error_description: `The access token lacks the scope ${needed} (or admin).` },
      });
      expect(await api(method, route, backend)).toEqual({
        status: 401,
        body: { error: 'invalid_token', error_description: 'The access token is not valid: not issued for the management API.' },
      });
    }
    expect([await stored(userId), await audits(userId)]).toEqual([before, []]);
  });
});
