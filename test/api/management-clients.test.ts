// Relying parties through the management API on a running server: create (secret once), list, get,
// change, rotate, remove; each change applies to the very next request, and nobody but an admin
// client-credentials token gets in. Config-file clients are listed and refused for changes.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { ENGINES } from '../helpers/databases.js';
import { findStoredClient } from '../../src/storage/clients.js';
import { capturingLogger } from '../helpers/logs.js';
import { clientCredentialsToken, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const APP_SECRET = 'app-secret-app-secret-app-secret';
const BACKEND_SECRET = 'backend-secret-backend-secret-xx';
const CALLBACK = 'http://127.0.0.1:9/cb';
const OTHER_CALLBACK = 'http://127.0.0.1:9/other';
const ORIGIN_A = 'http://127.0.0.1:9';
const ORIGIN_B = 'https://spa.example';
const fixture = {
  clients: [
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    { client_id: 'app', client_secret: APP_SECRET, redirect_uris: [CALLBACK], grant_types: ['authorization_code'], first_party: true },
    { client_id: 'backend', client_secret: BACKEND_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
  ],
};
/** How the config clients list: their metadata with the schema's defaults, minus the secret. */
const configView = (id: string) => expect.objectContaining({ client_id: id, source: 'config', createdAt: null });

describe.each(ENGINES)('relying parties in the management API on %s', (engine) => {
  let t: TestSesame;
  let token: string;
  const { logger, lines } = capturingLogger('debug');
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture, { logger });
    token = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
  });
  afterAll(() => t?.stop());

  const api = async (method: string, path: string, body?: unknown, bearer: string | null = token) => {
    const res = await fetch(`${t.url}/api/v1${path}`, {
      method,
      headers: { ...(bearer && { authorization: `Bearer ${bearer}` }), 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
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

  /** A code for the public client `spa` through the hosted pages, and its PKCE verifier. */
  async function spaCode(redirectUri: string, email: string) {
    const rp = await oidc.discovery(new URL(t.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const started = await startLogin(t, rp, { redirect_uri: redirectUri });
    const { result } = await signInWithEmail(t, started, email);
    const back = new URL(result.location!);
    expect(back.origin + back.pathname).toBe(redirectUri);
    return { code: back.searchParams.get('code')!, verifier: started.verifier };
  }

  const exchange = (origin: string, redirectUri: string, grant: { code: string; verifier: string }) =>
    fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'spa', code: grant.code, code_verifier: grant.verifier, redirect_uri: redirectUri }),
    });

  it('refuses every route without a token, with a user access token and with a non-admin client token', async () => {
    const app = await oidc.discovery(new URL(t.issuer), 'app', undefined, oidc.ClientSecretPost(APP_SECRET), { execute: [oidc.allowInsecureRequests] });
    const started = await startLogin(t, app);
    const { result } = await signInWithEmail(t, started, 'mallory@example.com');
    const userTokens = await exchangeCode(app, started, result.location);
    const backendToken = await clientCredentialsToken(t, 'backend', BACKEND_SECRET);
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/clients'],
      ['GET', '/clients/app'],
      ['POST', '/clients', { client_id: 'evil', redirect_uris: [CALLBACK] }],
      ['PATCH', '/clients/app', { redirect_uris: ['https://evil.example/cb'] }],
      ['POST', '/clients/app/rotate-secret'],
      ['DELETE', '/clients/app'],
    ];
    const unknown = {
      error: 'invalid_token',
      error_description: 'The access token is not valid: unknown, expired or revoked, or not a client-credentials token of the management API.',
    };
    for (const [method, path, body] of routes) {
      expect(await api(method, path, body, null)).toEqual({
        status: 401,
        body: { error: 'invalid_token', error_description: 'A bearer token for the management API is required.' },
      });
      expect(await api(method, path, body, userTokens.access_token)).toEqual({ status: 401, body: unknown });
      expect(await api(method, path, body, backendToken)).toEqual({
        status: 401,
        body: { error: 'invalid_token', error_description: 'The access token is not valid: not issued for the management API.' },
      });
    }
    expect(await t.sesame.services.db.prisma.client.count()).toBe(0);
  });

  it('lists the config clients with their source and never their secrets', async () => {
    const listed = await api('GET', '/clients');
    expect(listed).toEqual({ status: 200, body: { clients: [configView('ops'), configView('app'), configView('backend')] } });
    expect(JSON.stringify(listed.body)).not.toMatch(/secret-/);
    expect(await api('GET', '/clients/app')).toEqual({
      status: 200,
      body: {
        client_id: 'app',
        source: 'config',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code'],
        first_party: true,
        web_origins: [],
        management_api: false,
        userfront: false,
        trust_forwarded_for: false,
        createdAt: null,
      },
    });
    expect(await api('GET', '/clients/nobody')).toEqual({ status: 404, body: { error: 'not_found', error_description: 'no client nobody.' } });
  });

  it('refuses changes to config clients and ids that collide with them, saying to edit the config file', async () => {
    const edit = { error: 'conflict', error_description: 'client app comes from the configuration file; edit the config file to change it.' };
    expect(await api('PATCH', '/clients/app', { redirect_uris: ['https://evil.example/cb'] })).toEqual({ status: 409, body: edit });
    expect(await api('POST', '/clients/app/rotate-secret')).toEqual({ status: 409, body: edit });
    expect(await api('DELETE', '/clients/app')).toEqual({ status: 409, body: edit });
    expect(await api('POST', '/clients', { client_id: 'app', redirect_uris: [CALLBACK] })).toEqual({
      status: 409,
      body: { error: 'conflict', error_description: 'a client app already exists in the configuration file.' },
    });
  });

  it('refuses bad input with a clear 400 and stores nothing', async () => {
    const invalid = (description: string) => ({ status: 400, body: { error: 'invalid_client_metadata', error_description: description } });
    expect(await api('POST', '/clients', '{"client_id":')).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'The request body is not valid JSON.' } });
    // The schema that validates the body (and documents it) names the field.
    expect(await api('POST', '/clients', [])).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'body: must be a JSON object.' } });
    expect(await api('POST', '/clients', { redirect_uris: [CALLBACK] })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'client_id: must be 1 to 255 visible ASCII characters.' },
    });
    expect(await api('POST', '/clients', { client_id: 'x', client_secret: 'mine-mine-mine-mine' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'client_secret cannot be given: Sesame generates it (shown once) and rotate-secret replaces it.' },
    });
    expect(await api('POST', '/clients', { client_id: 'x', redirect_uris: ['not a url'] })).toEqual(invalid('invalid client: redirect_uris must only contain valid uris.'));
    expect(await api('POST', '/clients', { client_id: 'x', web_origins: ['not a url'] })).toEqual(
      invalid('invalid client: web_origins must be a list of origins like https://app.example.com.'),
    );
    expect(await api('POST', '/clients', { client_id: 'x', redirect_uris: [CALLBACK], id_token_signed_response_alg: 'PS512' })).toEqual(
      invalid("invalid client: id_token_signed_response_alg must be 'ES256' or 'RS256'."),
    );
    // The attack: an admin API reachable through a user's sign-in.
    expect(await api('POST', '/clients', { client_id: 'console', redirect_uris: [CALLBACK], management_api: true })).toEqual(
      invalid(
        'invalid client: a management_api client may only use the client_credentials grant, with grant_types ["client_credentials"] and response_types [] ' +
          "(got authorization_code, refresh_token): a user's sign-in must never reach the management API.",
      ),
    );
    expect(await t.sesame.services.db.prisma.client.count()).toBe(0);
  });

  it('creates a public SPA whose web origin and redirect URI changes apply to the next token request', async () => {
    const created = await api('POST', '/clients', {
      client_id: 'spa',
      client_name: 'SPA',
      token_endpoint_auth_method: 'none',
      redirect_uris: [CALLBACK],
      web_origins: [ORIGIN_A],
      first_party: true,
    });
    expect(created).toEqual({
      status: 201,
      body: {
        client_id: 'spa',
        source: 'database',
        client_name: 'SPA',
        token_endpoint_auth_method: 'none',
        redirect_uris: [CALLBACK],
        web_origins: [ORIGIN_A],
        first_party: true,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        createdAt: expect.any(String),
        client_secret: null,
      },
    });
    expect(await api('POST', '/clients', { client_id: 'spa', redirect_uris: [CALLBACK] })).toEqual({
      status: 409,
      body: { error: 'conflict', error_description: 'a client spa already exists.' },
    });

    const first = await spaCode(CALLBACK, 'first@example.com');
    const preflight = await fetch(`${t.url}/oauth/token`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN_A, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin'), preflight.headers.get('access-control-allow-methods')]).toEqual([204, ORIGIN_A, 'POST']);
    const refused = await exchange(ORIGIN_B, CALLBACK, first);
    expect([refused.status, refused.headers.get('access-control-allow-origin'), await refused.json()]).toEqual([
      400,
      null,
      { error: 'invalid_request', error_description: `origin ${ORIGIN_B} not allowed for client: spa` },
    ]);

    // A new web origin and a replaced redirect URI, with no restart and the code from before.
    const changed = await api('PATCH', '/clients/spa', { web_origins: [ORIGIN_A, ORIGIN_B], redirect_uris: [OTHER_CALLBACK], client_name: null });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual({ ...created.body, client_name: undefined, client_secret: undefined, web_origins: [ORIGIN_A, ORIGIN_B], redirect_uris: [OTHER_CALLBACK] });
    const allowed = await exchange(ORIGIN_B, CALLBACK, first);
    expect([allowed.status, allowed.headers.get('access-control-allow-origin')]).toEqual([200, ORIGIN_B]);
    expect(await allowed.json()).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), id_token: expect.any(String) });
    const second = await spaCode(OTHER_CALLBACK, 'second@example.com');
    const again = await exchange(ORIGIN_A, OTHER_CALLBACK, second);
    expect([again.status, again.headers.get('access-control-allow-origin')]).toEqual([200, ORIGIN_A]);
    // The old redirect URI no longer starts a sign-in.
    const rp = await oidc.discovery(new URL(t.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    expect((await startLogin(t, rp, { redirect_uri: CALLBACK })).page.status).toBe(400);
  });

  it('refuses to change the client id, or to turn a code-flow client into a management client', async () => {
    expect(await api('PATCH', '/clients/spa', { client_id: 'other' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'client_id cannot be changed; register a new client instead.' },
    });
    expect((await api('PATCH', '/clients/spa', { management_api: true })).body.error).toBe('invalid_client_metadata');
    expect(await api('PATCH', '/clients/nobody', { client_name: 'x' })).toEqual({ status: 404, body: { error: 'not_found', error_description: 'no stored client nobody.' } });
    expect((await api('GET', '/clients/spa')).body).toMatchObject({ client_id: 'spa', web_origins: [ORIGIN_A, ORIGIN_B] });
    expect((await api('GET', '/clients/spa')).body.management_api).toBeUndefined();
  });

  it('keeps the secret on PATCH, rotates it (the old one stops at once) and removes the client', async () => {
    const created = await api('POST', '/clients', { client_id: 'worker', client_name: 'Worker' });
    expect(created).toEqual({
      status: 201,
      body: {
        client_id: 'worker',
        source: 'database',
        client_name: 'Worker',
        redirect_uris: [],
        grant_types: ['client_credentials'],
        response_types: [],
        createdAt: expect.any(String),
        client_secret: expect.stringMatching(/^[\w-]{43}$/),
      },
    });
    const secret = created.body.client_secret as string;
    expect((await basicToken('worker', secret)).status).toBe(200);
    const patched = await api('PATCH', '/clients/worker', { client_name: 'Batch worker', token_endpoint_auth_method: 'client_secret_post' });
    expect(patched).toEqual({ status: 200, body: { ...created.body, client_name: 'Batch worker', token_endpoint_auth_method: 'client_secret_post', client_secret: undefined } });
    const post = (s: string) =>
      fetch(`${t.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'worker', client_secret: s }),
      });
    expect((await post(secret)).status).toBe(200);

    const rotated = await api('POST', '/clients/worker/rotate-secret');
    expect(rotated).toEqual({ status: 200, body: { client_id: 'worker', client_secret: expect.stringMatching(/^[\w-]{43}$/) } });
    expect(rotated.body.client_secret).not.toBe(secret);
    const old = await post(secret);
    expect([old.status, (await old.json()).error]).toEqual([401, 'invalid_client']);
    expect((await post(rotated.body.client_secret)).status).toBe(200);
    expect(await api('POST', '/clients/spa/rotate-secret')).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'client spa is public and has no secret.' },
    });

    const listed = await api('GET', '/clients');
    expect(listed.body.clients.map((c: { client_id: string; source: string }) => `${c.client_id}:${c.source}`)).toEqual([
      'ops:config',
      'app:config',
      'backend:config',
      'spa:database',
      'worker:database',
    ]);
    for (const s of [secret, rotated.body.client_secret]) {
      expect(JSON.stringify(listed.body)).not.toContain(s);
      expect(JSON.stringify((await api('GET', '/clients/worker')).body)).not.toContain(s);
      expect(lines.filter((line) => line.includes(s))).toEqual([]);
    }
    expect(lines.length).toBeGreaterThan(10);

    expect(await api('DELETE', '/clients/worker')).toEqual({ status: 204, body: null });
    expect((await post(rotated.body.client_secret)).status).toBe(401);
    expect(await api('DELETE', '/clients/worker')).toEqual({ status: 404, body: { error: 'not_found', error_description: 'no stored client worker.' } });
    const audit = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { clientId: 'worker', type: { startsWith: 'client.' } }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.type, a.reason])).toEqual([
      ['client.created', 'management_api'],
      ['client.updated', 'management_api'],
      ['client.secret_rotated', 'management_api'],
      ['client.removed', 'management_api'],
    ]);
  });

  it('issues a secret when a public client turns confidential, and drops it when it turns public again', async () => {
    expect((await api('POST', '/clients', { client_id: 'flip', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' })).body.client_secret).toBeNull();
    const confidential = await api('PATCH', '/clients/flip', { token_endpoint_auth_method: 'client_secret_basic' });
    expect([confidential.status, confidential.body.client_secret]).toEqual([200, expect.stringMatching(/^[\w-]{43}$/)]);
    expect((await basicToken('flip', confidential.body.client_secret)).status).toBe(403); // authenticated; just not this grant
    expect((await findStoredClient(t.sesame.services.db, 'flip'))!.metadata.client_secret).toBe(confidential.body.client_secret);
    const kept = await api('PATCH', '/clients/flip', { client_name: 'Flip' });
    expect([kept.status, 'client_secret' in kept.body]).toEqual([200, false]);
    expect((await basicToken('flip', confidential.body.client_secret)).status).toBe(403);
    expect((await api('PATCH', '/clients/flip', { token_endpoint_auth_method: 'none' })).body.client_secret).toBeUndefined();
    expect((await findStoredClient(t.sesame.services.db, 'flip'))!.metadata).not.toHaveProperty('client_secret');
    expect((await basicToken('flip', confidential.body.client_secret)).status).toBe(401);
  });
});
