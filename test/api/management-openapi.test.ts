// The management API's OpenAPI document: served without a token (the rest of /api/v1 still wants
// one), and in step with the router: every mounted route is described and every described route is
// mounted, with and without the external-connection routes. A listed passkey has exactly the keys
// the document's passkey schema declares.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { managementRouter } from '../../src/api/management.js';
import { managementOpenApi } from '../../src/api/management-openapi.js';
import { MANAGEMENT_SCOPES } from '../../src/oidc/resources.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import type { Services } from '../../src/services.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const fixture = {
  clients: [{ client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true }],
};

/** "GET /api/v1/users/{id}/passkeys" for each route the router mounts (HEAD is Koa's echo of GET). */
function mountedRoutes(s: Services): string[] {
  return managementRouter(s)
    .stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`))
    .sort();
}

function documentedRoutes(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} /api/v1${path}`))
    .sort();
}

describe('the management API OpenAPI document', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());

  const openApi = async () => {
    const res = await fetch(`${t.url}/api/v1/openapi.json`);
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as any };
  };

  it('is served without a token, while the routes it describes still want one', async () => {
    const { status, type, body } = await openApi();
    expect([status, type, body.openapi, body.servers, body.security]).toEqual([
      200,
      'application/json; charset=utf-8',
      '3.1.0',
      [{ url: `${t.issuer}/api/v1` }],
      [{ clientCredentials: ['admin'] }],
    ]);
    expect(body.components.securitySchemes.clientCredentials.flows).toEqual({
      clientCredentials: { tokenUrl: `${t.issuer}/oauth/token`, scopes: MANAGEMENT_SCOPES },
    });
    const res = await fetch(`${t.url}/api/v1/users/anyone/passkeys`);
    expect([res.status, await res.json()]).toEqual([401, { error: 'invalid_token', error_description: 'A bearer token for the management API is required.' }]);
  });

  it('describes exactly the routes the router mounts, with and without external connections', async () => {
    const { body } = await openApi();
    const mounted = mountedRoutes(t.sesame.services);
    expect(documentedRoutes(body)).toEqual(mounted.filter((r) => r !== 'GET /api/v1/openapi.json'));
    expect(mounted).toEqual(expect.arrayContaining(['GET /api/v1/users/{id}/passkeys', 'DELETE /api/v1/users/{id}/passkeys', 'DELETE /api/v1/users/{id}/passkeys/{passkeyId}']));
    expect(mounted.some((r) => r.includes('/service-clients'))).toBe(true);

    const withoutExternal = loadConfig({ NODE_ENV: 'test', SESAME_CONFIG: '' }, { ...fixture, issuer: t.issuer, features: { externalConnections: { enabled: false } } });
    const narrower = mountedRoutes({ ...t.sesame.services, config: withoutExternal });
    expect(narrower.some((r) => r.includes('/service-clients'))).toBe(false);
    expect(documentedRoutes(managementOpenApi(withoutExternal) as never)).toEqual(narrower.filter((r) => r !== 'GET /api/v1/openapi.json'));
  });

  it('names the scope of every operation (its area scope, or admin) and the refusals every operation shares', async () => {
    const { body } = await openApi();
    const operations = Object.entries(body.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    );
    for (const { path, method, op } of operations) {
      const [own, admin] = op.security as Array<{ clientCredentials: string[] }>;
      expect([admin, Object.keys(MANAGEMENT_SCOPES)], `${method} ${path}`).toEqual([{ clientCredentials: ['admin'] }, expect.arrayContaining(own!.clientCredentials)]);
      expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403']));
    }
    const scopeOf = (path: string, method: string) => body.paths[path][method].security[0].clientCredentials[0];
    expect([
      scopeOf('/users', 'get'),
      scopeOf('/users/{id}/block', 'post'),
      scopeOf('/clients', 'get'),
      scopeOf('/clients/{id}', 'patch'),
      scopeOf('/actions/{decisionId}/review', 'post'),
    ]).toEqual(['users:read', 'users:write', 'clients:read', 'clients:write', 'actions:review']);
  });

  it('documents the passkey routes, and a listed passkey has exactly the keys of its Passkey schema', async () => {
    const { body } = await openApi();
    const list = body.paths['/users/{id}/passkeys'].get;
    expect(list.parameters).toEqual([{ name: 'id', in: 'path', required: true, description: 'The user id.', schema: { type: 'string' } }]);
    expect(Object.keys(list.responses).sort()).toEqual(['200', '401', '403', '404']);
    expect(Object.keys(body.paths['/users/{id}/passkeys/{passkeyId}'].delete.responses).sort()).toEqual(['204', '401', '403', '404']);
    expect(body.paths['/users/{id}/passkeys'].delete.responses['200'].content['application/json'].schema).toEqual({
      type: 'object',
      properties: { removed: { type: 'array', items: { type: 'string' } } },
      required: ['removed'],
      additionalProperties: false,
    });

    const db = t.sesame.services.db;
    const user = await upsertVerifiedEmailUser(db, 'listed@example.com');
    // A row as a Chromium registration stores it (base64url id and COSE key, transports, AAGUID).
    await insertPasskey(db, {
      id: 'KEbWNCc7NgaYnUyrNeFGX9_3Y-8oJ3KwzjnaiD1d1LVTxR7v3CaKfCz2Vy_g_MHSh7yJ8yL0Pxg6jo_o0hYiew',
      userId: user.id,
      publicKey: 'pQECAyYgASFYIEx-0u0aMeo7bpmoyMAxBdgqItFnIKlZOmCOJAM38jDgIlggnsaMC1gYkLfSdcgJAbsJwnLnfjO2QL2lNVRFlQNi1rA',
      counter: 3,
      transports: ['hybrid', 'internal'],
      deviceType: 'multiDevice',
      backedUp: true,
      aaguid: 'ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4',
      name: 'Google Password Manager',
    });
    const rp = await oidc.discovery(new URL(t.issuer), 'ops', undefined, oidc.ClientSecretPost(OPS_SECRET), { execute: [oidc.allowInsecureRequests] });
    const { access_token: token } = await oidc.clientCredentialsGrant(rp, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
    const res = await fetch(`${t.url}/api/v1/users/${user.id}/passkeys`, { headers: { authorization: `Bearer ${token}` } });
    const { passkeys } = (await res.json()) as { passkeys: Array<Record<string, unknown>> };
    const schema = list.responses['200'].content['application/json'].schema.properties.passkeys.items;
    expect([res.status, passkeys.length, Object.keys(passkeys[0]!).sort(), schema.required.slice().sort(), schema.additionalProperties]).toEqual([
      200,
      1,
      Object.keys(schema.properties).sort(),
      Object.keys(schema.properties).sort(),
      false,
    ]);
    expect(passkeys[0]).toMatchObject({ authenticator: 'Google Password Manager', synced: true, transports: ['hybrid', 'internal'], lastUsedAt: null });
  });
});
