// Sesame served over real HTTPS (test CA from test/global-setup.ts) with an Auth0-style issuer
// `https://localhost:<port>/`: what unmodified SDKs that insist on https://<domain> need. Nothing
// here passes a CA or disables verification: every test process trusts the CA via NODE_EXTRA_CA_CERTS.
import { execFile } from 'node:child_process';
import { get } from 'node:https';
import { promisify } from 'node:util';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { startSesame } from '../../src/server.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { testCertificates } from '../helpers/tls.js';
import { oidcFixture, REDIRECT } from './fixture.js';
import { authorizationRequest } from '../helpers/authorization.js';

const app = oidcFixture.clients[0]!;

function httpsGetJson(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (data += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('Sesame over HTTPS', () => {
  let t: TestSesame;
  let issuer: string;
  beforeAll(async () => {
    const port = await freePort();
    issuer = `https://localhost:${port}/`;
    t = await startTestSesame('sqlite', { ...oidcFixture, port, issuer }, { tls: true });
  });
  afterAll(() => t?.stop());

  it('is served over https at https://localhost:<port>', () => {
    expect(t.url).toBe(issuer.slice(0, -1));
    expect(t.issuer).toBe(issuer);
  });

  it('is trusted through the test CA, not by turning verification off', async () => {
    expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
    expect(process.env.NODE_EXTRA_CA_CERTS).toBeTruthy();
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    // A Node process without the variable refuses the certificate.
    const probe = `fetch(${JSON.stringify(`${t.url}/healthz`)}).then(() => process.exit(0), (e) => { console.error(e.cause?.code ?? e.message); process.exit(3); })`;
    const { NODE_EXTRA_CA_CERTS: _ca, ...env } = process.env;
    const refused = await promisify(execFile)(process.execPath, ['-e', probe], { env }).catch((err: { code: number; stderr: string }) => err);
    expect(refused).toMatchObject({ code: 3, stderr: expect.stringMatching(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i) });
  });

  it('publishes https discovery that openid-client accepts without allowInsecureRequests', async () => {
    const config = await oidc.discovery(new URL(issuer), 'app', undefined, oidc.ClientSecretPost(app.client_secret));
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(issuer);
    expect(meta.token_endpoint).toBe(`${issuer}oauth/token`);
    expect(meta.jwks_uri).toBe(`${issuer}.well-known/jwks.json`);
  });

  it('serves the JWKS to https.get with the default agent (Auth0 legacy SDKs)', async () => {
    const { status, body } = await httpsGetJson(`${issuer}.well-known/jwks.json`);
    expect(status).toBe(200);
    expect((body as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
  });

  it('issues JWT access tokens to client_credentials with the slash-ended issuer', async () => {
    const config = await oidc.discovery(new URL(issuer), 'app', undefined, oidc.ClientSecretPost(app.client_secret));
    const tokens = await oidc.clientCredentialsGrant(config, { audience: 'https://api.example', scope: 'read' });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ iss: issuer, aud: 'https://api.example', sub: 'app', scope: 'read' });
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer, audience: 'https://api.example' });
    expect(payload.iss).toBe(issuer);
  });

  it('marks session cookies Secure', async () => {
    const { url: authorize } = await authorizationRequest(issuer, { client_id: 'app', redirect_uri: REDIRECT, scope: 'openid email' });
    const res = await fetch(authorize, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/interaction\//);
    const cookies = res.headers.getSetCookie();
    const interaction = cookies.filter((c) => c.startsWith('_interaction'));
    expect(interaction.length).toBeGreaterThan(0);
    for (const cookie of interaction) expect(cookie.toLowerCase()).toMatch(/;\s*secure(;|$)/);
    for (const cookie of cookies) expect(cookie.toLowerCase()).toContain('secure');
  });
});

describe('tls setting', () => {
  const start = (tls: Record<string, string>) =>
    startSesame({ env: { NODE_ENV: 'test' }, overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', databaseUrl: 'file:/nonexistent/never.db', tls } });

  it('fails the start naming the setting when a file cannot be read', async () => {
    const { certFile, keyFile } = testCertificates();
    await expect(start({ certFile: '/nonexistent/cert.pem', keyFile })).rejects.toThrow(ConfigError);
    await expect(start({ certFile: '/nonexistent/cert.pem', keyFile })).rejects.toThrow(/^tls\.certFile: cannot read \/nonexistent\/cert\.pem: ENOENT$/);
    await expect(start({ certFile, keyFile: '/nonexistent/key.pem' })).rejects.toThrow(/^tls\.keyFile: cannot read .*ENOENT$/);
    await expect(start({ certFile: keyFile, keyFile: certFile })).rejects.toThrow(/^tls\.certFile\/tls\.keyFile: unusable/);
  });
});
