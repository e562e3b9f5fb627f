// The management API's signing keys on a running server, on both databases: the published keys with
// their public JWKs only (the same keys /.well-known/jwks.json serves, never a private member); a
// rotation (the CLI's, audited with the management client) after which the server publishes the new
// keys, signs with them, and still verifies what the old ones signed. The refusals: keys:read cannot
// rotate, another area's token cannot read keys, no token gets nothing.
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { waitFor } from '../helpers/wait.js';
import { documentedApi, otpSignIn, tokenOf, usersFixture, type Answer } from './management-users-fixture.js';

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT/);
const PRIVATE = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
type Key = { kid: string; alg: string; state: string; jwk: JWK; publishedUntil: string | null };

describe.each(ENGINES)('the signing keys of the management API on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let api: (method: string, path: string, bearer: string | null, body?: unknown) => Promise<Answer>;
  let reader: string;
  beforeAll(async () => {
    // Picked up within a second of a rotation, as every instance does within keyCheckInterval.
    t = await startTestSesame(engine, { ...usersFixture, keyCheckInterval: 1 });
    api = await documentedApi(t);
    reader = await tokenOf(t, 'keys:read');
  });
  afterAll(() => t?.stop());

  const jwks = async () => ((await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] }).keys;
  const publicMembers = (alg: string) => (alg === 'ES256' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] : ['alg', 'e', 'kid', 'kty', 'n', 'use']);

  it('lists the published keys with their public JWKs: what the JWKS serves, no private member', async () => {
    const listed = await api('GET', '/keys', reader);
    expect(listed).toEqual({
      status: 200,
      body: {
        keys: expect.arrayContaining(
          ['RS256', 'ES256'].map((alg) => ({
            kid: expect.any(String),
            alg,
            use: 'sig',
            state: 'active',
            createdAt: ISO,
            retiredAt: null,
            publishedUntil: null,
            jwk: expect.objectContaining({ alg, use: 'sig' }),
          })),
        ),
      },
    });
    const keys = listed.body.keys as Key[];
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      expect(Object.keys(key.jwk).sort()).toEqual(publicMembers(key.alg));
      expect(key.jwk.kid).toBe(key.kid);
    }
    expect(PRIVATE.filter((m) => JSON.stringify(listed.body).includes(`"${m}":`))).toEqual([]);
    const served = await jwks();
    expect(served.map((k) => k.kid).sort()).toEqual(keys.map((k) => k.kid).sort());
    for (const key of keys) expect(served.find((k) => k.kid === key.kid)).toEqual(key.jwk);
  });

  it('rotates like the CLI, audited: the server publishes and signs with the new keys and still verifies the old ones', async () => {
    const before = (await api('GET', '/keys', reader)).body.keys as Key[];
    const early = await otpSignIn(t, `before-${engine}-${randomUUID().slice(0, 6)}@example.com`);

    const rotated = await api('POST', '/keys/rotate', await tokenOf(t, 'keys:write'));
    expect(rotated.status).toBe(201);
    const keys = rotated.body.keys as Key[];
    const active = keys.filter((k) => k.state === 'active');
    const retired = keys.filter((k) => k.state === 'retired');
    expect([active.map((k) => k.alg).sort(), retired.map((k) => k.kid).sort()]).toEqual([['ES256', 'RS256'], before.map((k) => k.kid).sort()]);
    expect(active.every((k) => !before.some((b) => b.kid === k.kid))).toBe(true);
    // Published as long as a token they signed may live (an hour by default) plus a minute.
    for (const k of retired) expect(Date.parse(k.publishedUntil!) - Date.now()).toBeGreaterThan(3600_000);
    const audit = await t.sesame.services.db.prisma.auditEvent.findFirstOrThrow({ where: { type: 'keys.rotated' } });
    expect([audit.clientId, audit.userId, audit.reason, audit.identifier?.split(' ').sort()]).toEqual([
      'ops',
      null,
      'via management_api by management_api:ops',
      active.map((k) => k.kid).sort(),
    ]);

    // The server's key watch picks the new keys up: all four published.
    await waitFor(async () => (await jwks()).length === 4, { what: 'the JWKS to publish the new keys' });
    const served = createLocalJWKSet({ keys: await jwks() });
    const late = await otpSignIn(t, `after-${engine}-${randomUUID().slice(0, 6)}@example.com`);
    const newRsa = active.find((k) => k.alg === 'RS256')!.kid;
    expect(decodeProtectedHeader(late.tokens.id_token!).kid).toBe(newRsa);
    await expect(jwtVerify(late.tokens.id_token!, served, { issuer: t.issuer })).resolves.toBeTruthy();
    // Signed before the rotation, still verifiable until it expires.
    expect(before.map((k) => k.kid)).toContain(decodeProtectedHeader(early.tokens.id_token!).kid);
    await expect(jwtVerify(early.tokens.id_token!, served, { issuer: t.issuer })).resolves.toBeTruthy();
  });

  it('needs the scopes: keys:read cannot rotate, another area cannot read keys, no token gets nothing', async () => {
    const before = (await api('GET', '/keys', reader)).body.keys as Key[];
    const lacks = (scope: string) => ({ status: 403, body: { error: 'insufficient_scope', error_description: `The access token lacks the scope ${scope} (or admin).` } });
    expect(await api('POST', '/keys/rotate', reader)).toEqual(lacks('keys:write'));
    const outboxOnly = await tokenOf(t, 'outbox:read outbox:write');
    expect(await api('GET', '/keys', outboxOnly)).toEqual(lacks('keys:read'));
    expect(await api('POST', '/keys/rotate', outboxOnly)).toEqual(lacks('keys:write'));
    expect((await api('POST', '/keys/rotate', null)).status).toBe(401);
    expect((await api('GET', '/keys', reader)).body.keys).toEqual(before);
    expect(await t.sesame.services.db.prisma.auditEvent.count({ where: { type: 'keys.rotated' } })).toBe(1);
  });
});
