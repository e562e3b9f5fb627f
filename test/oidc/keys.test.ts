// Signing key rotation while running: the new keys sign, the old ones stay published for their tokens.
import * as oidc from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateSigningKeys } from '../../src/storage/signing-keys.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { waitFor } from '../helpers/wait.js';
import { oidcFixture } from './fixture.js';

describe('signing key rotation', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', { ...oidcFixture, keyCheckInterval: 1 });
  });
  afterAll(() => t?.stop());

  const jwks = async () => ((await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; alg: string }> }).keys;

  it('is picked up by a running server without a restart', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const before = await oidc.clientCredentialsGrant(config, { audience: 'https://api.example' });
    const oldKid = decodeProtectedHeader(before.access_token).kid;
    const oldKeys = await jwks();
    expect(oldKeys.map((k) => k.kid)).toContain(oldKid);

    const stored = await rotateSigningKeys(t.sesame.services.db, 3600);
    const fresh = stored.filter((k) => !k.retiredAt).map((k) => k.kid);
    // The key check runs every second; wait for its reload rather than a fixed time (slow under load).
    const expected = [...fresh, ...oldKeys.map((k) => k.kid)].sort();
    const published = await waitFor(
      async () => {
        const keys = await jwks();
        return keys.length === expected.length && keys;
      },
      { timeout: 30_000, interval: 100, what: 'the reloaded key set' },
    );
    expect(published.map((k) => k.kid).sort()).toEqual(expected);
    const after = await oidc.clientCredentialsGrant(config, { audience: 'https://api.example' });
    const newKid = decodeProtectedHeader(after.access_token).kid;
    expect(fresh).toContain(newKid);
    expect(newKid).not.toBe(oldKid);
  });
});
