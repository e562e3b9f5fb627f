// A user's passkeys through the management API on a running server (support: "I lost my phone"):
// list, remove one, remove all; each removal audited with the management client; a removed passkey
// no longer signs in while codes still do; another user's passkey cannot be reached through a user
// id; nobody but an admin client-credentials token gets in.
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { finishAuthentication, finishRegistration, startAuthentication, startRegistration, type PasskeyDeps } from '../../src/passwordless/passkeys.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { clientCredentialsToken, signInWithEmail, startLogin } from '../helpers/login.js';
import { documentedCall } from '../helpers/openapi.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const APP_SECRET = 'app-secret-app-secret-app-secret';
const BACKEND_SECRET = 'backend-secret-backend-secret-xx';
const fixture = {
  clients: [
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    { client_id: 'app', client_secret: APP_SECRET, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code'], first_party: true },
    { client_id: 'backend', client_secret: BACKEND_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
  ],
};
// The ceremonies that seed passkeys run as the hosted pages would on http://localhost:3000; the
// server under test only stores and removes them, so its own issuer does not matter here.
const ORIGIN = 'http://localhost:3000';
const ICLOUD = 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd';
const asker = { boundTo: 'interaction:support-test', clientId: 'app', ip: '127.0.0.1' };

describe.each(ENGINES)('user passkeys in the management API on %s', (engine) => {
  let t: TestSesame;
  let token: string;
  let deps: PasskeyDeps;
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture);
    token = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
    deps = { config: loadConfig({}, { issuer: ORIGIN }), db: t.sesame.services.db, log: createLogger('silent') };
  });
  afterAll(() => t?.stop());

  const api = (method: string, path: string, bearer: string | null = token) => documentedCall(t.url, method, path, bearer);

  /** A new user with one passkey per device, enrolled through the real ceremony; returns the user id and passkey ids, oldest first. */
  async function userWithPasskeys(...devices: SoftAuthenticator[]) {
    const email = `${randomUUID()}@example.test`;
    const user = await upsertVerifiedEmailUser(deps.db, email);
    const ids: string[] = [];
    // A second apart, so "newest first" has one answer.
    const start = Date.now() - 60_000;
    for (const [i, device] of devices.entries()) {
      const { handle, options } = await startRegistration(deps, { user }, asker);
      const registered = await finishRegistration(deps, handle, device.register(options), asker);
      ids.push((await insertPasskey(deps.db, { ...registered.credential, userId: user.id }, new Date(start + i * 1000))).id);
    }
    return { userId: user.id, email, ids };
  }

  async function signInWith(device: SoftAuthenticator) {
    const { handle, options } = await startAuthentication(deps, asker);
    return finishAuthentication(deps, handle, device.authenticate(options), asker);
  }

  const removals = (userId: string) => deps.db.prisma.auditEvent.findMany({ where: { type: 'passkey.removed', userId }, orderBy: { createdAt: 'asc' } });
  const passkeyCount = () => deps.db.prisma.passkey.count();
  const device = (options: Partial<ConstructorParameters<typeof SoftAuthenticator>[0]> = {}) => new SoftAuthenticator({ origin: ORIGIN, ...options });

  it("lists a user's passkeys newest first, with what support needs and no key material", async () => {
    const phone = device({ backupEligible: true, backedUp: true, aaguid: ICLOUD });
    const { userId, ids } = await userWithPasskeys(device(), phone);
    await signInWith(phone);
    const listed = await api('GET', `/users/${userId}/passkeys`);
    expect(listed).toEqual({
      status: 200,
      body: {
        passkeys: [
          {
            id: ids[1],
            name: 'iCloud Keychain',
            authenticator: 'iCloud Keychain',
            aaguid: ICLOUD,
            synced: true,
            transports: ['internal'],
            createdAt: expect.any(String),
            lastUsedAt: expect.any(String),
          },
          {
            id: ids[0],
            name: null,
            authenticator: null,
            aaguid: '00000000-0000-0000-0000-000000000000',
            synced: false,
            transports: ['internal'],
            createdAt: expect.any(String),
            lastUsedAt: null,
          },
        ],
      },
    });
    const stored = await deps.db.prisma.passkey.findMany({ where: { userId }, orderBy: { createdAt: 'desc' } });
    expect(listed.body.passkeys.map((p: Record<string, string>) => [p.createdAt, p.lastUsedAt])).toEqual(
      stored.map((p) => [p.createdAt.toISOString(), p.lastUsedAt?.toISOString() ?? null]),
    );
    const { userId: none } = await userWithPasskeys();
    expect(await api('GET', `/users/${none}/passkeys`)).toEqual({ status: 200, body: { passkeys: [] } });
    expect(await api('GET', '/users/no-such-user/passkeys')).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
  });

  it('removes one lost passkey, audited with the client: it no longer signs in, the other one and codes still do', async () => {
    const [laptop, lostPhone] = [device(), device()];
    const { userId, email, ids } = await userWithPasskeys(laptop, lostPhone);
    expect(await api('DELETE', `/users/${userId}/passkeys/${ids[1]}`)).toEqual({ status: 204, body: null });
    expect((await api('GET', `/users/${userId}/passkeys`)).body.passkeys.map((p: { id: string }) => p.id)).toEqual([ids[0]]);
    expect(await removals(userId)).toEqual([
      expect.objectContaining({ type: 'passkey.removed', userId, clientId: 'ops', ip: expect.any(String), identifier: null, reason: `${ids[1]} via management_api` }),
    ]);
    await expect(signInWith(lostPhone)).rejects.toMatchObject({ name: 'SesameError', kind: 'passkeyFailed' });
    expect((await signInWith(laptop)).passkey.id).toBe(ids[0]);
    // Nothing else was cleared: the user signs in with an emailed code, as support will tell them.
    const app = await oidc.discovery(new URL(t.issuer), 'app', undefined, oidc.ClientSecretPost(APP_SECRET), { execute: [oidc.allowInsecureRequests] });
    const { result } = await signInWithEmail(t, await startLogin(t, app), email);
    expect(result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    // The same id again: already gone.
    expect(await api('DELETE', `/users/${userId}/passkeys/${ids[1]}`)).toEqual({
      status: 404,
      body: { error: 'not_found', error_description: 'This user has no passkey with this id.' },
    });
  });

  it("answers 404 for another user's passkey and removes nothing (the attack: any user id, a victim's passkey id)", async () => {
    const victim = await userWithPasskeys(device());
    const attacker = await userWithPasskeys(device());
    const before = await passkeyCount();
    expect(await api('DELETE', `/users/${attacker.userId}/passkeys/${victim.ids[0]}`)).toEqual({
      status: 404,
      body: { error: 'not_found', error_description: 'This user has no passkey with this id.' },
    });
    expect(await api('DELETE', `/users/no-such-user/passkeys/${victim.ids[0]}`)).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
    expect(await api('DELETE', '/users/no-such-user/passkeys')).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
    expect([await passkeyCount(), await removals(victim.userId), await removals(attacker.userId)]).toEqual([before, [], []]);
    expect((await api('GET', `/users/${victim.userId}/passkeys`)).body.passkeys.map((p: { id: string }) => p.id)).toEqual(victim.ids);
  });

  it('removes every passkey of a user, one audit row each, and leaves other users alone', async () => {
    const { userId, ids } = await userWithPasskeys(device(), device(), device());
    const other = await userWithPasskeys(device());
    const removed = await api('DELETE', `/users/${userId}/passkeys`);
    expect(removed).toEqual({ status: 200, body: { removed: expect.any(Array) } });
    expect([...removed.body.removed].sort()).toEqual([...ids].sort());
    expect(await api('GET', `/users/${userId}/passkeys`)).toEqual({ status: 200, body: { passkeys: [] } });
    expect((await removals(userId)).map((e) => [e.clientId, e.reason]).sort()).toEqual(ids.map((id) => ['ops', `${id} via management_api`]).sort());
    expect(await api('DELETE', `/users/${userId}/passkeys`)).toEqual({ status: 200, body: { removed: [] } });
    expect((await api('GET', `/users/${other.userId}/passkeys`)).body.passkeys.map((p: { id: string }) => p.id)).toEqual(other.ids);
  });

  it('answers 404, never a 500, for ids no user or passkey can have', async () => {
    const { userId, ids } = await userWithPasskeys(device());
    const notFound = (description: string) => ({ status: 404, body: { error: 'not_found', error_description: description } });
    for (const odd of ['%00', 'a%00b', 'x'.repeat(2000), '%F0%9F%94%91', '..%2F..%2Fclients']) {
      expect([odd, await api('GET', `/users/${odd}/passkeys`)]).toEqual([odd, notFound('No user with this id.')]);
      expect([odd, await api('DELETE', `/users/${userId}/passkeys/${odd}`)]).toEqual([odd, notFound('This user has no passkey with this id.')]);
    }
    expect((await api('GET', `/users/${userId}/passkeys`)).body.passkeys.map((p: { id: string }) => p.id)).toEqual(ids);
  });

  it('refuses every passkey route without a token, with a token lacking the admin scope and with a non-management token', async () => {
    const { userId, ids } = await userWithPasskeys(device());
    const noAdmin = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/` });
    const backend = await clientCredentialsToken(t, 'backend', BACKEND_SECRET);
    const before = await passkeyCount();
    for (const [method, path] of [
      ['GET', `/users/${userId}/passkeys`],
      ['DELETE', `/users/${userId}/passkeys/${ids[0]}`],
      ['DELETE', `/users/${userId}/passkeys`],
    ] as const) {
      expect(await api(method, path, null)).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'A bearer token for the management API is required.' } });
      const needed = method === 'GET' ? 'users:read' : 'users:write';
      expect(await api(method, path, noAdmin)).toEqual({
        status: 403,
        body: { error: 'insufficient_scope', error_description: `The access token lacks the scope ${needed} (or admin).` },
      });
      expect(await api(method, path, backend)).toEqual({
        status: 401,
        body: { error: 'invalid_token', error_description: 'The access token is not valid: not issued for the management API.' },
      });
    }
    expect([await passkeyCount(), await removals(userId)]).toEqual([before, []]);
  });
});
