// private_key_jwt client authentication (RFC 7523) on /passwordless/start and at the token
// endpoint for the OTP grant, as the Auth0 SDKs send it (RS256, no kid, aud = issuer); and a
// client's remote jwks_uri, fetched once rather than once per (junk) assertion.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { OTP } from './fixture.js';

const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('private_key_jwt', () => {
  let t: TestSesame;
  let key: CryptoKey;
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    const publicJwk = { ...(await exportJWK(pair.publicKey)), alg: 'RS256', use: 'sig' };
    t = await startTestSesame('sqlite', {
      clients: [
        {
          client_id: 'signed',
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: 'RS256',
          jwks: { keys: [publicJwk] },
          redirect_uris: ['http://127.0.0.1:9/cb'],
          grant_types: [OTP],
          first_party: true,
        },
      ],
    });
  });
  afterAll(() => t?.stop());

  const assertion = (audience: string, jti = randomUUID()) =>
    new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer('signed').setSubject('signed').setAudience(audience).setJti(jti).setIssuedAt().setExpirationTime('2m').sign(key);

  const start = async (clientAssertion: string, email: string) =>
    fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'signed', client_assertion: clientAssertion, client_assertion_type: ASSERTION, connection: 'email', email, send: 'code' }),
    });

  it('authenticates /passwordless/start and the OTP grant with a signed assertion, once per assertion', async () => {
    const signed = await assertion(`${t.issuer}/`);
    const res = await start(signed, 'pkjwt@example.com');
    expect(res.status).toBe(200);
    const otp = codeFrom(await t.mail.next('pkjwt@example.com'));

    const replay = await start(signed, 'pkjwt2@example.com');
    expect([replay.status, await replay.json()]).toEqual([401, { error: 'invalid_client', error_description: 'Client assertion rejected: assertion replayed' }]);
    const foreign = await start(await assertion('https://elsewhere.example/'), 'pkjwt3@example.com');
    expect(foreign.status).toBe(401);

    const token = await fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: OTP,
        client_id: 'signed',
        client_assertion: await assertion(t.issuer),
        client_assertion_type: ASSERTION,
        username: 'pkjwt@example.com',
        otp,
        realm: 'email',
        scope: 'openid email',
      }),
    });
    const body = (await token.json()) as Record<string, unknown>;
    expect([token.status, body]).toEqual([
      200,
      { access_token: expect.any(String), id_token: expect.any(String), expires_in: expect.any(Number), token_type: 'Bearer', scope: 'openid email' },
    ]);
  });
  it('still refuses a replayed assertion after half of its lifetime', async () => {
    // iat 200 s ago, exp in 100 s: used now, its record then moved back 150 s, as if first used
    // 150 s ago and replayed now (a window "until exp" would have forgotten it by now).
    const iat = Math.floor(Date.now() / 1000) - 200;
    const signed = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('signed')
      .setSubject('signed')
      .setAudience(`${t.issuer}/`)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + 300)
      .sign(key);
    expect((await start(signed, 'half1@example.com')).status).toBe(200);
    const counters = t.sesame.services.db.prisma.counter;
    const [row] = await counters.findMany({ where: { key: { startsWith: 'assertion:signed:' } }, orderBy: { lastAt: 'desc' }, take: 1 });
    const earlier = new Date(row!.windowStart.getTime() - 150_000);
    await counters.update({ where: { key: row!.key }, data: { windowStart: earlier, lastAt: earlier } });
    const replay = await start(signed, 'half2@example.com');
    expect([replay.status, await replay.json()]).toEqual([401, { error: 'invalid_client', error_description: 'Client assertion rejected: assertion replayed' }]);
  });
});

describe('private_key_jwt with a remote jwks_uri', () => {
  let t: TestSesame;
  let key: CryptoKey;
  let jwksServer: Server;
  let fetches = 0;
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    const body = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), alg: 'RS256', use: 'sig', kid: 'real' }] });
    // The client's key server, counting how often Sesame asks.
    jwksServer = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    t = await startTestSesame('sqlite', {
      clients: [
        {
          client_id: 'remote',
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: 'RS256',
          jwks_uri: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`,
          redirect_uris: ['http://127.0.0.1:9/cb'],
          grant_types: [OTP],
          first_party: true,
        },
      ],
    });
  });
  afterAll(async () => {
    await t?.stop();
    jwksServer?.closeAllConnections();
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  const start = (clientAssertion: string, email: string) =>
    fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'remote', client_assertion: clientAssertion, client_assertion_type: ASSERTION, connection: 'email', email, send: 'code' }),
    });

  /** A client assertion of `remote` with key id `kid`, signed by `signer`. */
  const remoteAssertion = (kid: string, signer: CryptoKey) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer('remote')
      .setSubject('remote')
      .setAudience(`${t.issuer}/`)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(signer);

  it('fetches the key set once for many junk assertions, and still accepts a real one', async () => {
    // Junk: well-formed, signed by a key the client never published, each with a new kid.
    const junkKey = (await generateKeyPair('RS256')).privateKey;
    for (let i = 0; i < 12; i++) {
      const res = await start(await remoteAssertion(`junk-${i}`, junkKey), `junk${i}@example.com`);
      expect([res.status, await res.json()]).toEqual([
        401,
        { error: 'invalid_client', error_description: 'Client assertion rejected: no applicable key found in the JSON Web Key Set' },
      ]);
    }
    expect(fetches).toBe(1);

    const ok = await start(await remoteAssertion('real', key), 'remote@example.com');
    expect(ok.status).toBe(200);
    expect(fetches).toBe(1);
  });
});
