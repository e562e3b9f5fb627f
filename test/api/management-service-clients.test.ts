// Service clients through the management API: create (access key once), list, rotate, revoke; and
// ids no row can hold on every management route with an id in its path, and a NUL in a query or body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentedCall } from '../helpers/openapi.js';
import { clientCredentialsToken } from '../helpers/login.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { ENGINES } from '../helpers/databases.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';

describe.each(ENGINES)('service clients in the management API on %s', (engine) => {
  let t: TestSesame;
  let token: string;
  beforeAll(async () => {
    t = await startTestSesame(engine, {
      clients: [{ client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true }],
      connections: [
        { id: 'email', type: 'email' },
        { id: 'corp', type: 'external', name: 'Corp', authorizationUrl: 'https://login.corp.example/passwordless', accountId: 'acct1' },
      ],
    });
    token = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
  });
  afterAll(() => t?.stop());

  const api = (method: string, path: string, body?: unknown) => documentedCall(t.url, method, path, token, body);

  it('creates, lists, rotates and revokes', async () => {
    const created = await api('POST', '/service-clients', { connection: 'corp' });
    expect(created).toEqual({
      status: 201,
      body: {
        clientId: expect.stringMatching(/^sc_[0-9a-f]{18}$/),
        keyId: expect.stringMatching(/^key_[0-9a-f]{18}$/),
        accessKey: expect.stringMatching(/^sc_\w+\.key_\w+\.acct1\.[A-Za-z0-9+/=]+$/),
      },
    });
    const { clientId, keyId } = created.body!;
    const rotated = await api('POST', `/service-clients/${clientId}/keys`, {});
    expect([rotated.status, rotated.body!.clientId]).toEqual([201, clientId]);
    const listed = await api('GET', '/service-clients?connection=corp');
    expect(listed.body!.serviceClients).toEqual([
      expect.objectContaining({
        clientId,
        connectionId: 'corp',
        revokedAt: null,
        keys: [expect.objectContaining({ keyId, revokedAt: null }), expect.objectContaining({ keyId: rotated.body!.keyId, revokedAt: null })],
      }),
    ]);
    expect((await api('DELETE', `/service-clients/${clientId}/keys/${keyId}`)).status).toBe(204);
    expect((await api('DELETE', `/service-clients/${clientId}/keys/${keyId}`)).status).toBe(404);
    expect((await api('DELETE', `/service-clients/${clientId}`)).status).toBe(204);
    expect((await api('POST', `/service-clients/${clientId}/keys`, {})).status).toBe(404);
    expect(await api('POST', '/service-clients', { connection: 'email' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'connection must name an external connection (got "email").' },
    });
  });

  it('refuses a bad body or query with a 400 naming the field, and creates nothing', async () => {
    const bad = (error_description: string) => ({ status: 400, body: { error: 'invalid_request', error_description } });
    expect(await api('POST', '/service-clients', {})).toEqual(bad('connection: must name an external connection.'));
    expect(await api('POST', '/service-clients', { connection: 'corp', allow_profile: 'yes' })).toEqual(bad('allow_profile: Invalid input: expected boolean, received string.'));
    expect(await api('POST', '/service-clients', { connection: 'corp', name: 7 })).toEqual(bad('name: Invalid input: expected string, received number.'));
    expect(await api('GET', '/service-clients?connection=a&connection=b')).toEqual(bad('connection: Invalid input: expected string, received array.'));
    expect(await api('POST', '/service-clients/sc_none/keys', { allow_profile: 1 })).toEqual(bad('allow_profile: Invalid input: expected boolean, received number.'));
    expect(await t.sesame.services.db.prisma.serviceClient.count({ where: { name: { not: null } } })).toBe(0);
  });

  it('answers 404 for ids no row can hold (a NUL, which PostgreSQL refuses outright) on every route with an id, and 400 for a NUL in a query or body, never a 500', async () => {
    const [client, service, key, link] = ['client with this id', 'live service client with this id', 'live key with this id for this service client', 'live link with this uuid'];
    for (const id of ['%00', 'a%00b']) {
      const routes = [['GET', `/clients/${id}`, client], ['PATCH', `/clients/${id}`, client, {}], ['POST', `/clients/${id}/rotate-secret`, client], ['DELETE', `/clients/${id}`, client],
        ['POST', `/service-clients/${id}/keys`, service, {}], ['DELETE', `/service-clients/${id}`, service], ['DELETE', `/service-clients/x/keys/${id}`, key], ['DELETE', `/links/${id}`, link]] as const; // prettier-ignore
      for (const [method, path, what, body] of routes)
        expect([path, await api(method, path, body)]).toEqual([path, { status: 404, body: { error: 'not_found', error_description: `No ${what}.` } }]);
    }
    // In a query or a body of the schema-driven routes: a 400 naming the field before any storage sees it.
    const nul = [['GET', '/service-clients?connection=%00', 'connection'], ['POST', '/service-clients', 'name', { connection: 'corp', name: 'a\u0000' }],
      ['GET', '/users?q=a%00', 'q'], ['GET', '/users?after=%00', 'after'], ['GET', '/audit?user_id=%00', 'user_id'], ['GET', '/audit?client_id=%00', 'client_id'],
      ['POST', '/links', 'email', { type: 'welcome', email: 'a\u0000@example.com' }]] as const; // prettier-ignore
    for (const [method, path, field, body] of nul)
      expect([path, await api(method, path, body)]).toEqual([
        path,
        { status: 400, body: { error: 'invalid_request', error_description: `${field}: must not contain a NUL character.` } },
      ]);
  });
});
