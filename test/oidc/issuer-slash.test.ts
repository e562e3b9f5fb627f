// Auth0 SDKs require an issuer ending in a slash (`https://tenant/`); Sesame must accept one and
// still publish clean endpoint URLs, with `iss` exactly the configured issuer.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { oidcFixture } from './fixture.js';

describe('issuer with a trailing slash', () => {
  let t: TestSesame;
  let issuer: string;
  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}/`;
    t = await startTestSesame('sqlite', { ...oidcFixture, port, issuer });
  });
  afterAll(() => t?.stop());

  it('serves discovery, signs in and puts the exact issuer in tokens', async () => {
    const config = await oidc.discovery(new URL(issuer), 'app', undefined, oidc.ClientSecretPost(oidcFixture.clients[0]!.client_secret), {
      execute: [oidc.allowInsecureRequests],
    });
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(issuer);
    expect(meta.token_endpoint).toBe(`${issuer}oauth/token`);
    expect(meta.jwks_uri).toBe(`${issuer}.well-known/jwks.json`);
    const started = await startLogin(t, config);
    const { result } = await signInWithEmail(t, started, 'slash@example.com');
    expect(new URL(result.location!).searchParams.get('iss')).toBe(issuer);
    const tokens = await exchangeCode(config, started, result.location);
    expect(tokens.claims()!.iss).toBe(issuer);
  });
});
