// Issue 11 item 1: an end user must never reach the management API. The attack: a management
// client that also allows the code flow hands `admin` for <issuer>/api/v1/ to whoever signs in (open
// sign-up: anyone), who then mints a sign-in link for someone else's address. Each step is tried.
import { unescapeHtml } from '../helpers/html.js';
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { SignJWT, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { insertClient } from '../../src/storage/clients.js';
import { loadSigningJwks } from '../../src/storage/signing-keys.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { signInWithEmail, startLogin } from '../helpers/login.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const CONSOLE_SECRET = 'console-secret-console-secret-con';
const REDIRECT = 'http://127.0.0.1:9/cb';
/** What the attack needed: a management client that users can sign in to. */
const consoleClient = {
  client_id: 'console',
  client_secret: CONSOLE_SECRET,
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'client_credentials'],
  first_party: true,
  management_api: true,
};
const fixture = {
  clients: [
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    { client_id: 'app', client_secret: 'app-secret-app-secret-app-secret', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], first_party: true },
  ],
};
const discover = (t: TestSesame, id: string, secret: string) =>
  oidc.discovery(new URL(t.issuer), id, undefined, oidc.ClientSecretPost(secret), { execute: [oidc.allowInsecureRequests] });

describe('management_api clients in the configuration', () => {
  it.each([
    [consoleClient, 'authorization_code'],
    [{ ...consoleClient, grant_types: ['client_credentials', 'refresh_token'], response_types: [] }, 'refresh_token'],
    [{ ...consoleClient, grant_types: ['client_credentials'], redirect_uris: [] }, 'response_types code'],
    [{ ...consoleClient, grant_types: ['urn:sesame:params:oauth:grant-type:login-ticket'], response_types: [] }, 'urn:sesame:params:oauth:grant-type:login-ticket'],
  ])('refuses %j with the field path and the reason', (client, got) => {
    expect(() => loadConfig({ NODE_ENV: 'test', SESAME_CONFIG: '' }, { clients: [fixture.clients[1], client] })).toThrowError(
      new ConfigError(
        'invalid configuration at clients.1.management_api: a management_api client may only use the client_credentials grant, ' +
          `with grant_types ["client_credentials"] and response_types [] (got ${got}): a user's sign-in must never reach the management API`,
      ),
    );
  });

  it('accepts a client-credentials-only management client', () => {
    expect(loadConfig({ NODE_ENV: 'test', SESAME_CONFIG: '' }, fixture).clients[0]).toMatchObject({ client_id: 'ops', management_api: true });
  });
});

describe('an end user and the management API', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
    // A client stored before the rule (by hand or by an older version) is refused when loaded.
    await insertClient(t.sesame.services.db, 'console', { ...consoleClient, response_types: ['code'] });
  });
  afterAll(() => t?.stop());

  const createLink = (bearer: string) =>
    fetch(`${t.url}/api/v1/links`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'custom', email: 'victim@example.com', ttl: 600 }),
    });

  it('cannot sign in through a stored management client that allows the code flow', async () => {
    const consoleRp = await discover(t, 'console', CONSOLE_SECRET);
    const started = await startLogin(t, consoleRp, { audience: `${t.issuer}/api/v1/`, scope: 'openid admin' });
    expect(started.page.status).toBe(400);
    const problem =
      'a management_api client may only use the client_credentials grant, with grant_types ["client_credentials"] and response_types [] ' +
      "(got authorization_code): a user's sign-in must never reach the management API";
    // The reason is for the operator: under the error page's technical details.
    const detail = unescapeHtml(/<p class="detail">([^<]*)</.exec(started.page.html)?.[1] ?? '');
    expect([detail, started.page.html.includes('Error code: invalid_client_metadata')]).toEqual([problem, true]);
    // Nor can its client credentials reach the API: the client does not load at all.
    const token = await fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'console', client_secret: CONSOLE_SECRET, audience: `${t.issuer}/api/v1/`, scope: 'admin' }),
    });
    expect([token.status, await token.json()]).toEqual([400, { error: 'invalid_client_metadata', error_description: problem }]);
  });

  it('cannot ask for the management audience through an ordinary client', async () => {
    const app = await discover(t, 'app', 'app-secret-app-secret-app-secret');
    const started = await startLogin(t, app, { audience: `${t.issuer}/api/v1/`, scope: 'openid admin' });
    const back = new URL(started.page.location!);
    expect(Object.fromEntries(back.searchParams)).toEqual({
      error: 'invalid_target',
      error_description: `unknown audience or resource: ${t.issuer}/api/v1/`,
      state: started.state,
      iss: t.issuer,
    });
  });

  it('refuses a user-bound token for the management audience, as the old code flow issued', async () => {
    // A self-registered user, and the JWT a management client's code flow used to give them.
    const app = await discover(t, 'app', 'app-secret-app-secret-app-secret');
    const { result } = await signInWithEmail(t, await startLogin(t, app), 'mallory@example.com');
    expect(result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email: 'mallory@example.com' } });
    const jwk = (await loadSigningJwks(t.sesame.services.db)).find((k) => k.alg === 'RS256')!;
    const now = Math.floor(Date.now() / 1000);
    const userToken = await new SignJWT({ client_id: 'console', scope: 'admin', jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: jwk.kid })
      .setIssuer(t.issuer)
      .setAudience(`${t.issuer}/api/v1/`)
      .setSubject(user.id)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(await importJWK(jwk, 'RS256'));
    const res = await createLink(userToken);
    expect([res.status, res.headers.get('www-authenticate'), await res.json()]).toEqual([
      401,
      `Bearer realm="${t.issuer}/api/v1/"`,
      { error: 'invalid_token', error_description: 'The access token is not valid: unknown, expired or revoked, or not a client-credentials token of the management API.' },
    ]);
    expect(await t.sesame.services.db.prisma.magicLink.count({ where: { email: 'victim@example.com' } })).toBe(0);
  });

  it('still serves a client-credentials token of the management client', async () => {
    const ops = await discover(t, 'ops', OPS_SECRET);
    const { access_token: token } = await oidc.clientCredentialsGrant(ops, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
    const res = await createLink(token);
    expect([res.status, await res.json()]).toEqual([201, { uuid: expect.any(String), url: expect.stringContaining('/login/link?uuid='), expiresAt: expect.any(String) }]);
  });
});
