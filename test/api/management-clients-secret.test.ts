// Relying parties through the management API, continued (management-clients.test.ts has the basics):
// the rotate route and its refusals, removal ending every grant and token of the client, Sesame's own
// clients refused, the clients:read / clients:write scopes, and the OpenAPI entries made from the same
// schemas that validate the requests.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { ENGINES } from '../helpers/databases.js';
import { clientCredentialsToken, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const APP_SECRET = 'app-secret-app-secret-app-secret';
const CALLBACK = 'http://127.0.0.1:9/cb';
const fixture = {
  clients: [
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    { client_id: 'app', client_secret: APP_SECRET, redirect_uris: [CALLBACK], grant_types: ['authorization_code'], first_party: true },
  ],
};

describe.each(ENGINES)('client secrets, removal and scopes in the management API on %s', (engine) => {
  let t: TestSesame;
  let token: string;
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture);
    token = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
  });
  afterAll(() => t?.stop());

  const api = async (method: string, path: string, body?: unknown, bearer: string | null = token) => {
    const res = await fetch(`${t.url}/api/v1${path}`, {
      method,
      headers: { ...(bearer && { authorization: `Bearer ${bearer}` }), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as any) : null };
  };

  const basicToken = (id: string, secret: string) =>
    fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });

  it('checks the body against the schema the OpenAPI document shows, naming the field, before the provider judges the rest', async () => {
    expect(await api('POST', '/clients', { client_id: '' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'client_id must be 1 to 255 visible ASCII characters.' },
    });
    expect(await api('POST', '/clients', { client_id: 'x', redirect_uris: 'https://app.example/cb' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'redirect_uris: Invalid input: expected array, received string.' },
    });
    expect(await api('PATCH', '/clients/app', { first_party: 'yes' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'first_party: Invalid input: expected boolean, received string.' },
    });
    expect(await t.sesame.services.db.prisma.client.count()).toBe(0);
  });

  it('rotates at POST /clients/:id/secret: the new secret authenticates, the old one is invalid_client at once', async () => {
    const created = await api('POST', '/clients', { client_id: 'rotor', client_name: 'Rotor' });
    const old = created.body.client_secret as string;
    expect((await basicToken('rotor', old)).status).toBe(200);
    const rotated = await api('POST', '/clients/rotor/secret');
    expect(rotated).toEqual({ status: 200, body: { client_id: 'rotor', client_secret: expect.stringMatching(/^[\w-]{43}$/) } });
    const refused = await basicToken('rotor', old);
    expect([refused.status, await refused.json()]).toEqual([401, { error: 'invalid_client', error_description: 'client authentication failed' }]);
    const fresh = await basicToken('rotor', rotated.body.client_secret);
    expect([fresh.status, await fresh.json()]).toEqual([200, { access_token: expect.any(String), expires_in: expect.any(Number), token_type: 'Bearer' }]);
    expect(JSON.stringify((await api('GET', '/clients/rotor')).body)).not.toContain(rotated.body.client_secret);

    expect((await api('POST', '/clients', { client_id: 'rotor-public', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' })).status).toBe(201);
    expect(await api('POST', '/clients/rotor-public/secret')).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'client rotor-public is public and has no secret.' },
    });
    expect(await api('POST', '/clients/nobody/secret')).toEqual({ status: 404, body: { error: 'not_found', error_description: 'no stored client nobody.' } });
    expect((await api('POST', '/clients/app/secret')).status).toBe(409);
    const audit = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { clientId: 'rotor', type: { startsWith: 'client.' } }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.type, a.reason])).toEqual([
      ['client.created', 'management_api'],
      ['client.secret_rotated', 'management_api'],
    ]);
  });

  it('settles two rotations at the same moment once: one new secret, the other told to try again', async () => {
    const created = await api('POST', '/clients', { client_id: 'racer' });
    const answers = await Promise.all([api('POST', '/clients/racer/secret'), api('POST', '/clients/racer/secret')]);
    const won = answers.filter((a) => a.status === 200);
    // SQLite runs one writer at a time, so both may win in turn; never two at once with one secret lost.
    expect(won.length).toBeGreaterThanOrEqual(1);
    for (const lost of answers.filter((a) => a.status !== 200)) {
      expect(lost).toEqual({ status: 409, body: { error: 'conflict', error_description: 'client racer was changed or removed meanwhile; try again.' } });
    }
    const last = (await t.sesame.services.db.prisma.client.findUniqueOrThrow({ where: { clientId: 'racer' } })).metadata;
    const secret = JSON.parse(last).client_secret as string;
    expect(won.map((a) => a.body.client_secret)).toContain(secret);
    expect((await basicToken('racer', secret)).status).toBe(200);
    for (const stale of [created.body.client_secret, ...won.map((a) => a.body.client_secret).filter((s) => s !== secret)]) {
      expect((await basicToken('racer', stale)).status).toBe(401);
    }
  });

  it('removes a client with its grants and tokens, so a client registered later under its id inherits none', async () => {
    const created = await api('POST', '/clients', { client_id: 'web', redirect_uris: [CALLBACK], first_party: true });
    const web = await oidc.discovery(new URL(t.issuer), 'web', undefined, oidc.ClientSecretPost(created.body.client_secret), { execute: [oidc.allowInsecureRequests] });
    const started = await startLogin(t, web);
    const { result } = await signInWithEmail(t, started, 'web-user@example.com');
    const tokens = await exchangeCode(web, started, result.location);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    await clientCredentialsToken(t, 'web', created.body.client_secret).catch(() => undefined); // not its grant: refused, stores nothing
    const rows = () => t.sesame.services.db.prisma.oidcPayload.findMany({ where: { payload: { contains: '"clientId":"web"' } }, select: { model: true } });
    expect((await rows()).map((r) => r.model).sort()).toEqual(expect.arrayContaining(['AccessToken', 'Grant', 'RefreshToken']));

    expect(await api('DELETE', '/clients/web')).toEqual({ status: 204, body: null });
    expect(await rows()).toEqual([]);
    const again = await api('POST', '/clients', { client_id: 'web', redirect_uris: [CALLBACK], first_party: true });
    const heir = await oidc.discovery(new URL(t.issuer), 'web', undefined, oidc.ClientSecretPost(again.body.client_secret), { execute: [oidc.allowInsecureRequests] });
    await expect(oidc.refreshTokenGrant(heir, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const userinfo = await fetch(`${t.url}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(userinfo.status).toBe(401);
  });

  it("refuses to register, change, rotate or remove Sesame's own clients (the console's would lock admins out)", async () => {
    for (const id of ['sesame-admin-console', 'sesame-account-page']) {
      const own = {
        status: 409,
        body: { error: 'conflict', error_description: `client ${id} is Sesame's own (its account page or admin console sign-in) and cannot be registered, changed or removed.` },
      };
      expect(await api('PATCH', `/clients/${id}`, { redirect_uris: ['https://evil.example/cb'] })).toEqual(own);
      expect(await api('POST', `/clients/${id}/secret`)).toEqual(own);
      expect(await api('DELETE', `/clients/${id}`)).toEqual(own);
      expect(await api('POST', '/clients', { client_id: id, redirect_uris: ['https://evil.example/cb'] })).toEqual(own);
    }
    expect(await t.sesame.services.db.prisma.client.count({ where: { clientId: { startsWith: 'sesame-' } } })).toBe(0);
    // Still served: the console's sign-in starts.
    const start = await fetch(`${t.url}/admin`, { redirect: 'manual' });
    expect(new URL(start.headers.get('location')!).searchParams.get('client_id')).toBe('sesame-admin-console');
  });

  it('needs clients:read to read and clients:write to change', async () => {
    const reader = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'clients:read' });
    expect((await api('GET', '/clients', undefined, reader)).status).toBe(200);
    expect((await api('GET', '/clients/app', undefined, reader)).status).toBe(200);
    const lacks = { status: 403, body: { error: 'insufficient_scope', error_description: 'The access token lacks the scope clients:write (or admin).' } };
    expect(await api('POST', '/clients', { client_id: 'sneaky' }, reader)).toEqual(lacks);
    expect(await api('PATCH', '/clients/rotor', { client_name: 'x' }, reader)).toEqual(lacks);
    expect(await api('POST', '/clients/rotor/secret', undefined, reader)).toEqual(lacks);
    expect(await api('DELETE', '/clients/rotor', undefined, reader)).toEqual(lacks);
    const writer = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'clients:write' });
    expect((await api('GET', '/clients', undefined, writer)).status).toBe(403);
    expect((await api('PATCH', '/clients/rotor', { client_name: 'Rotor 2' }, writer)).status).toBe(200);
  });

  it('documents every client route in the OpenAPI document from the schemas that validate it', async () => {
    const doc = (await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as any;
    const ops = Object.entries(doc.paths as Record<string, Record<string, any>>)
      .filter(([path]) => path.startsWith('/clients'))
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.security[0].clientCredentials[0]}`));
    expect(ops.sort()).toEqual([
      'DELETE /clients/{id} clients:write',
      'GET /clients clients:read',
      'GET /clients/{id} clients:read',
      'PATCH /clients/{id} clients:write',
      'POST /clients clients:write',
      'POST /clients/{id}/rotate-secret clients:write',
      'POST /clients/{id}/secret clients:write',
    ]);
    const rotate = doc.paths['/clients/{id}/secret'].post;
    expect(Object.keys(rotate.responses).sort()).toEqual(['200', '400', '401', '403', '404', '409']);
    expect(rotate.responses['200'].content['application/json'].schema).toMatchObject({ type: 'object', required: ['client_id', 'client_secret'] });
    const create = doc.paths['/clients'].post.requestBody.content['application/json'].schema;
    expect(create).toMatchObject({
      type: 'object',
      required: ['client_id'],
      properties: { client_id: { type: 'string' }, redirect_uris: { type: 'array', items: { type: 'string' } } },
    });
    const patch = doc.paths['/clients/{id}'].patch.requestBody.content['application/json'].schema;
    expect(patch.properties.client_name).toEqual({ type: ['string', 'null'], description: 'The product name on its pages and emails.' });
  });
});
