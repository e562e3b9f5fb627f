// The `features` switches (issue 13 item 8) on a real server: a disabled feature's routes answer
// 404, its grants are unsupported at the token endpoint and gone from discovery, while the other
// features answer as before; configs that need a disabled feature fail at load, at `sesame clients
// add` and at /api/v1/clients; without `features` discovery is exactly what it was.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { FEATURE_GRANT_TYPES, type FeatureName } from '../../src/config/features.js';
import { grantTypes as OTP_GRANTS } from '../../src/oidc/grants/passwordless-otp.js';
import { grantType as LOGIN_TICKET } from '../../src/oidc/grants/login-ticket.js';
import { grantType as WEBAUTHN } from '../../src/oidc/grants/webauthn.js';
import { grantTypes as MFA_GRANTS } from '../../src/oidc/grants/mfa.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { createTestDatabase } from '../helpers/databases.js';
import { failure, sesame } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

const FEATURES: FeatureName[] = ['auth0Api', 'userfront', 'management', 'externalConnections', 'authsignalApi'];
const CALLBACK = 'http://127.0.0.1:9/cb';
const BACKEND = { client_id: 'backend', client_secret: 'backend-secret-backend-secret-xx', grant_types: ['client_credentials'], response_types: [] };
const ADMIN_SECRET = 'admin-secret-admin-secret-admin-secret';
const ACME = { id: 'acme', type: 'external', name: 'Acme', authorizationUrl: 'https://acme.example/login', accountId: 'acme' };

/** What needs each feature in the fixture: left out when that feature is off. */
const NEEDS: Record<FeatureName, { clients?: object[]; connections?: object[] }> = {
  auth0Api: {
    clients: [{ client_id: 'native', client_secret: 'native-secret-native-secret-native', redirect_uris: [CALLBACK], grant_types: ['authorization_code', ...OTP_GRANTS] }],
  },
  userfront: {
    clients: [
      { client_id: 'demo', userfront: true, token_endpoint_auth_method: 'none', response_types: [], grant_types: [LOGIN_TICKET, 'refresh_token'], redirect_uris: [CALLBACK] },
    ],
  },
  management: { clients: [{ client_id: 'admin', client_secret: ADMIN_SECRET, management_api: true, grant_types: ['client_credentials'], response_types: [] }] },
  authsignalApi: {},
  externalConnections: { connections: [ACME] },
};

/** The fixture with `off` disabled (and what needs it left out); everything on when `off` is undefined. */
function fixtureWithout(off?: FeatureName) {
  const on = FEATURES.filter((f) => f !== off);
  return {
    ...(off && { features: { [off]: { enabled: false } } }),
    clients: [BACKEND, ...on.flatMap((f) => NEEDS[f].clients ?? [])],
    connections: [{ id: 'email', type: 'email' }, ...on.flatMap((f) => NEEDS[f].connections ?? [])],
  };
}

type Answer = { status: number; body: unknown };
const json = (status: number, body: unknown): Answer => ({ status, body });
const page = (status: number, title: string): Answer => ({ status, body: expect.stringContaining(`<title>${title} · Sesame</title>`) });
const NOT_FOUND: Answer = { status: 404, body: 'Not Found' };
const noClientId = json(400, { error: 'invalid_request', error_description: 'Missing required parameter: client_id' });
const noAdminToken = json(401, { error: 'invalid_token', error_description: 'A bearer token for the management API is required.' });
const noSecretKey = json(401, { error: 'unauthorized', errorDescription: 'The request is unauthorized. Check that your API key and region base URL are correctly configured.' });

/** Each feature's routes, and what each answers (without credentials) while the feature is on. */
const ROUTES: Record<FeatureName, Array<[method: string, path: string, enabled: Answer]>> = {
  auth0Api: [
    ['POST', '/passwordless/start', noClientId],
    ['POST', '/passwordless/verify', noClientId],
    ['GET', '/passwordless/verify_redirect', page(400, 'This sign-in link cannot be used')],
    ['POST', '/passkey/register', noClientId],
    ['POST', '/passkey/challenge', noClientId],
  ],
  userfront: [
    ['POST', '/v0/tenants/nobody/auth/code', json(404, { statusCode: 404, error: 'Not Found', message: 'Tenant not found.' })],
    ['GET', '/v0/auth/refresh', json(401, { statusCode: 401, error: 'Unauthorized', message: 'Missing Authorization: Bearer token.' })],
  ],
  management: [
    ['GET', '/api/v1/clients', noAdminToken],
    ['POST', '/api/v1/links', noAdminToken],
    ['DELETE', '/api/v1/users/anyone/passkeys', noAdminToken],
  ],
  authsignalApi: [
    ['POST', '/v1/users/anyone/actions/signIn', noSecretKey],
    ['GET', '/v1/users/anyone/actions', noSecretKey],
    ['GET', '/v1/users/anyone/actions/signIn/key', noSecretKey],
    ['PATCH', '/v1/users/anyone/actions/signIn/key', noSecretKey],
    ['POST', '/v1/validate', noSecretKey],
    ['GET', '/v1/users/anyone', noSecretKey],
    ['PATCH', '/v1/users/anyone', noSecretKey],
    ['DELETE', '/v1/users/anyone', noSecretKey],
    ['GET', '/v1/users/anyone/authenticators', noSecretKey],
    ['POST', '/v1/users/anyone/authenticators', noSecretKey],
    ['DELETE', '/v1/users/anyone/authenticators/sms|dev_x', noSecretKey],
    ['GET', '/v1/management/action-configurations', noSecretKey],
    ['POST', '/v1/management/action-configurations/signIn/rules', noSecretKey],
    ['DELETE', '/v1/management/action-configurations/signIn/rules/r1', noSecretKey],
    ['GET', '/v1/ui', page(401, 'Confirm it is you')],
    [
      'POST',
      '/v1/client/challenge/email-otp',
      json(401, { error: 'token_not_set', errorCode: 'token_not_set', errorDescription: 'A token from track is required: Authorization: Bearer <token>.' }),
    ],
  ],
  externalConnections: [
    ['GET', '/connections/acme/callback', page(400, 'Signing in through another service did not work')],
    ['GET', '/api/v1/service-clients', noAdminToken],
  ],
};

async function call(t: TestSesame, method: string, path: string): Promise<Answer> {
  const res = await fetch(new URL(path, t.url), { method, ...(method === 'POST' && { headers: { 'content-type': 'application/json' }, body: '{}' }) });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}

/** A token request of `grantType` by the backend client, which is allowed none of ours. */
async function tokenRequest(t: TestSesame, grantType: string): Promise<Answer> {
  const body = new URLSearchParams({ grant_type: grantType, client_id: BACKEND.client_id, client_secret: BACKEND.client_secret });
  const res = await fetch(new URL('/oauth/token', t.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, body: await res.json() };
}

const discovery = async (t: TestSesame) => (await fetch(new URL('/.well-known/openid-configuration', t.url))).json() as Promise<Record<string, unknown>>;
const OWN_GRANTS = ['authorization_code', 'implicit', 'refresh_token', 'client_credentials'];

describe('features on a real server', { timeout: 120_000 }, () => {
  const servers = new Map<FeatureName | 'all', TestSesame>();
  beforeAll(async () => {
    // On a localhost issuer, where passkeys work (the passkey API and grant need a relying party).
    const start = async (off?: FeatureName) => {
      const port = await freePort();
      return startTestSesame('sqlite', { ...fixtureWithout(off), port, issuer: `http://localhost:${port}` });
    };
    servers.set('all', await start());
    for (const feature of FEATURES) servers.set(feature, await start(feature));
  }, 300_000);
  afterAll(async () => {
    for (const t of servers.values()) await t.stop();
  });

  it('lists in discovery, without `features`, exactly what it listed before the switches existed', async () => {
    const t = servers.get('all')!;
    const doc = await discovery(t);
    expect(JSON.parse(JSON.stringify(doc).replaceAll(t.issuer, 'ISSUER'))).toEqual(DISCOVERY_BEFORE_FEATURES);
  });

  it('answers every route of every feature when all are on', async () => {
    const t = servers.get('all')!;
    for (const [method, path, enabled] of Object.values(ROUTES).flat()) expect([path, await call(t, method, path)]).toEqual([path, enabled]);
    for (const grant of Object.values(FEATURE_GRANT_TYPES).flat()) {
      expect(await tokenRequest(t, grant)).toEqual(json(403, { error: 'unauthorized_client', error_description: `Grant type '${grant}' not allowed for the client.` }));
    }
  });

  describe.each(FEATURES)('with %s disabled', (off) => {
    it('answers 404 on its routes, and as before on the routes of the others', async () => {
      const t = servers.get(off)!;
      for (const [feature, routes] of Object.entries(ROUTES)) {
        // The service clients live under /api/v1: gone with either feature.
        for (const [method, path, enabled] of routes) {
          const gone = feature === off || (off === 'management' && path.startsWith('/api/v1/'));
          expect([path, await call(t, method, path)]).toEqual([path, gone ? NOT_FOUND : enabled]);
        }
      }
    });

    it('refuses its grants as unsupported, and still offers the others', async () => {
      const t = servers.get(off)!;
      for (const [feature, grants] of Object.entries(FEATURE_GRANT_TYPES)) {
        for (const grant of grants) {
          expect(await tokenRequest(t, grant)).toEqual(
            feature === off
              ? json(400, { error: 'unsupported_grant_type', error_description: 'unsupported grant_type requested' })
              : json(403, { error: 'unauthorized_client', error_description: `Grant type '${grant}' not allowed for the client.` }),
          );
        }
      }
    });

    it('leaves its grants out of discovery and changes nothing else there', async () => {
      const t = servers.get(off)!;
      const doc = JSON.parse(JSON.stringify(await discovery(t)).replaceAll(t.issuer, 'ISSUER'));
      const grants = [...OWN_GRANTS, ...FEATURES.filter((f) => f !== off).flatMap((f) => FEATURE_GRANT_TYPES[f])];
      expect(doc).toEqual({ ...DISCOVERY_BEFORE_FEATURES, grant_types_supported: grants });
    });
  });

  it('refuses at /api/v1/clients a client that needs a disabled feature, naming it', async () => {
    const t = servers.get('userfront')!;
    const rp = await oidc.discovery(new URL(t.issuer), 'admin', undefined, oidc.ClientSecretPost(ADMIN_SECRET), { execute: [oidc.allowInsecureRequests] });
    const { access_token: token } = await oidc.clientCredentialsGrant(rp, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
    const res = await fetch(`${t.url}/api/v1/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'tenant', token_endpoint_auth_method: 'none', response_types: [], grant_types: [LOGIN_TICKET], userfront: true }),
    });
    expect({ status: res.status, body: await res.json() }).toEqual(
      json(400, {
        error: 'invalid_client_metadata',
        error_description: `invalid client: grant type ${LOGIN_TICKET} belongs to the userfront feature, which is disabled (features.userfront.enabled is false).`,
      }),
    );
  });
});

describe('features in the configuration', () => {
  const load = (config: Record<string, unknown>) => () => loadConfig({}, config);
  const off = (...names: FeatureName[]) => Object.fromEntries(names.map((n) => [n, { enabled: false }]));

  it('turns every feature on by default, the same as saying so', () => {
    const all = {
      auth0Api: { enabled: true },
      userfront: { enabled: true },
      management: { enabled: true },
      authsignalApi: { enabled: true },
      externalConnections: { enabled: true },
    };
    expect(loadConfig({}, {}).features).toEqual(all);
    expect(loadConfig({}, { features: all }).features).toEqual(all);
    expect(loadConfig({}, { features: off('userfront') }).features).toEqual({ ...all, userfront: { enabled: false } });
  });

  it('names the same grant types as the grant modules', () => {
    expect(FEATURE_GRANT_TYPES).toEqual({
      auth0Api: [...OTP_GRANTS, WEBAUTHN, ...MFA_GRANTS],
      userfront: [LOGIN_TICKET],
      management: [],
      authsignalApi: [],
      externalConnections: [],
    });
  });

  it.each([
    [{ features: { passkeys: { enabled: true } } }, 'invalid configuration at features.passkeys: Unrecognized key: "passkeys"'],
    [{ features: { auth0Api: { enabled: 'no' } } }, 'invalid configuration at features.auth0Api.enabled: Invalid input: expected boolean, received string'],
    [{ features: { auth0Api: { enabled: false, rate: 1 } } }, 'invalid configuration at features.auth0Api.rate: Unrecognized key: "rate"'],
    [
      { features: off('auth0Api'), clients: NEEDS.auth0Api.clients },
      `invalid configuration at clients.0.grant_types: grant type ${OTP_GRANTS[0]} belongs to the auth0Api feature, which is disabled (features.auth0Api.enabled is false)`,
    ],
    [
      { features: off('userfront'), clients: NEEDS.userfront.clients },
      `invalid configuration at clients.0.grant_types: grant type ${LOGIN_TICKET} belongs to the userfront feature, which is disabled (features.userfront.enabled is false)`,
    ],
    [
      { features: off('userfront'), clients: [{ client_id: 'tenant', userfront: true, token_endpoint_auth_method: 'none', grant_types: ['refresh_token'] }] },
      'invalid configuration at clients.0.userfront: userfront needs the userfront feature, which is disabled (features.userfront.enabled is false)',
    ],
    [
      { features: off('management'), clients: [BACKEND, ...NEEDS.management.clients!] },
      'invalid configuration at clients.1.management_api: management_api needs the management feature, which is disabled (features.management.enabled is false)',
    ],
    [
      { issuer: 'http://127.0.0.1:3000', clients: [{ client_id: 'app', client_secret: 'app-secret-app-secret-app-secret', redirect_uris: [CALLBACK], grant_types: [WEBAUTHN] }] },
      `invalid configuration at clients.0.grant_types: grant type ${WEBAUTHN} needs passkeys, which cannot work here (passkeys.enabled is false, or the issuer is an IP address and passkeys.rpId is not set)`,
    ],
    [
      { features: off('externalConnections'), connections: [{ id: 'email', type: 'email' }, ACME] },
      'invalid configuration at connections.1: external connection acme needs the externalConnections feature, which is disabled (features.externalConnections.enabled is false)',
    ],
  ])('refuses %j', (config, message) => {
    expect(load(config)).toThrowError(new ConfigError(message));
  });

  it('refuses at `sesame clients add` a client that needs a disabled feature, naming it', { timeout: 120_000 }, async () => {
    const db = await createTestDatabase('sqlite');
    const dir = mkdtempSync(join(tmpdir(), 'sesame-features-'));
    try {
      const config = join(dir, 'sesame.json');
      writeFileSync(config, JSON.stringify({ features: off('auth0Api') }));
      const result = await sesame(db.url, config, ['clients', 'add', '--id', 'app', '--redirect-uri', CALLBACK, '--grant', 'authorization_code', '--grant', OTP_GRANTS[0]!]);
      expect(failure(result)).toBe(
        `sesame: clients add: invalid client: grant type ${OTP_GRANTS[0]} belongs to the auth0Api feature, which is disabled (features.auth0Api.enabled is false)`,
      );
    } finally {
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The discovery document of a config without `features`, as Sesame served it before the switches. */
const DISCOVERY_BEFORE_FEATURES = {
  acr_values_supported: [
    'urn:sesame:acr:email',
    'urn:sesame:acr:sms',
    'urn:sesame:acr:external',
    'urn:sesame:acr:passkey',
    'http://schemas.openid.net/pape/policies/2007/06/multi-factor',
  ],
  authorization_endpoint: 'ISSUER/authorize',
  claims_parameter_supported: true,
  claims_supported: ['sub', 'acr', 'amr', 'email', 'email_verified', 'phone_number', 'phone_number_verified', 'name', 'sid', 'auth_time', 'iss'],
  code_challenge_methods_supported: ['S256'],
  end_session_endpoint: 'ISSUER/oidc/logout',
  grant_types_supported: [
    ...OWN_GRANTS,
    'http://auth0.com/oauth/grant-type/passwordless/otp',
    'urn:sesame:params:oauth:grant-type:passwordless-otp',
    'urn:okta:params:oauth:grant-type:webauthn',
    'http://auth0.com/oauth/grant-type/mfa-otp',
    'http://auth0.com/oauth/grant-type/mfa-oob',
    'http://auth0.com/oauth/grant-type/mfa-recovery-code',
    'urn:sesame:params:oauth:grant-type:login-ticket',
  ],
  issuer: 'ISSUER',
  jwks_uri: 'ISSUER/.well-known/jwks.json',
  authorization_response_iss_parameter_supported: true,
  response_modes_supported: ['form_post', 'fragment', 'query'],
  response_types_supported: ['code', 'id_token', 'code id_token'],
  scopes_supported: ['openid', 'offline_access', 'email', 'phone', 'profile'],
  subject_types_supported: ['public'],
  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'private_key_jwt', 'none'],
  token_endpoint_auth_signing_alg_values_supported: ['HS256', 'RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'],
  token_endpoint: 'ISSUER/oauth/token',
  id_token_signing_alg_values_supported: ['ES256', 'RS256'],
  pushed_authorization_request_endpoint: 'ISSUER/oauth/par',
  request_uri_parameter_supported: false,
  userinfo_endpoint: 'ISSUER/userinfo',
  introspection_endpoint: 'ISSUER/oauth/introspect',
  dpop_signing_alg_values_supported: ['ES256', 'Ed25519', 'EdDSA'],
  revocation_endpoint: 'ISSUER/oauth/revoke',
  claim_types_supported: ['normal'],
};
