// Issue 11 item 16: access tokens live as long as their API says (apis[].accessTokenTtl; management
// tokens 10 minutes; tokens.accessToken for the rest), and a management token revoked at
// /oauth/revoke stops working at once.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';

const APP_SECRET = 'app-secret-app-secret-app-secret';
const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const fixture = {
  clients: [
    {
      client_id: 'app',
      client_secret: APP_SECRET,
      redirect_uris: ['http://127.0.0.1:9/cb'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      first_party: true,
    },
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
  ],
  apis: [
    { identifier: 'https://short.example', scopes: ['read'], accessTokenTtl: 120 },
    { identifier: 'https://long.example', scopes: ['read'] },
  ],
  tokens: { accessToken: 900 },
};

describe('access token lifetimes', () => {
  let t: TestSesame;
  let app: oidc.Configuration;
  let ops: oidc.Configuration;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
    const discover = (id: string, secret: string) => oidc.discovery(new URL(t.issuer), id, undefined, oidc.ClientSecretPost(secret), { execute: [oidc.allowInsecureRequests] });
    [app, ops] = await Promise.all([discover('app', APP_SECRET), discover('ops', OPS_SECRET)]);
  });
  afterAll(() => t?.stop());

  const lifetime = (jwt: string) => {
    const { exp, iat } = decodeJwt(jwt);
    return exp! - iat!;
  };

  it('gives client-credentials tokens the lifetime of their API', async () => {
    const short = await oidc.clientCredentialsGrant(app, { audience: 'https://short.example', scope: 'read' });
    const long = await oidc.clientCredentialsGrant(app, { audience: 'https://long.example', scope: 'read' });
    expect([short.expires_in, lifetime(short.access_token)]).toEqual([120, 120]);
    expect([long.expires_in, lifetime(long.access_token)]).toEqual([3600, 3600]);
  });

  it("gives a signed-in user's tokens the lifetime of their API, and tokens.accessToken without one", async () => {
    const started = await startLogin(t, app, { audience: 'https://short.example', scope: 'openid email read' });
    const { result } = await signInWithEmail(t, started, 'ttl@example.com');
    const tokens = await exchangeCode(app, started, result.location);
    expect([tokens.expires_in, lifetime(tokens.access_token)]).toEqual([120, 120]);
    const refreshed = await oidc.refreshTokenGrant(app, tokens.refresh_token!);
    expect([refreshed.expires_in, lifetime(refreshed.access_token)]).toEqual([120, 120]);

    const plain = await startLogin(t, app, { scope: 'openid email' }, started.browser);
    const userinfoTokens = await exchangeCode(app, plain, plain.page.location);
    expect(userinfoTokens.expires_in).toBe(900);
    const introspected = await oidc.tokenIntrospection(app, userinfoTokens.access_token);
    expect(introspected.exp! - introspected.iat!).toBe(900);
  });

  it('gives management tokens 10 minutes, and a revoked one stops working', async () => {
    const issued = await oidc.clientCredentialsGrant(ops, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
    expect(issued.expires_in).toBe(600);
    const introspected = await oidc.tokenIntrospection(ops, issued.access_token);
    expect(introspected).toMatchObject({ active: true, client_id: 'ops', aud: `${t.issuer}/api/v1/`, scope: 'admin' });
    expect(introspected.exp! - introspected.iat!).toBe(600);

    const revokeAll = () =>
      fetch(`${t.url}/api/v1/links/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${issued.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'someone@example.com' }),
      });
    const before = await revokeAll();
    expect([before.status, await before.json()]).toEqual([200, { revoked: 0 }]);

    const revoked = await fetch(`${t.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: issued.access_token, client_id: 'ops', client_secret: OPS_SECRET }),
    });
    expect([revoked.status, await revoked.text()]).toEqual([200, '']);

    const after = await revokeAll();
    expect([after.status, await after.json()]).toEqual([
      401,
      { error: 'invalid_token', error_description: 'The access token is not valid: unknown, expired or revoked, or not a client-credentials token of the management API.' },
    ]);
  });
});
