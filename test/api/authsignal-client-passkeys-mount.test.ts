// The client API's passkey routes exist only while both hold: the authsignalApi feature is on, and
// passkeys can work (a relying party: not turned off, not an issuer on an IP address).
import { describe, expect, it } from 'vitest';
import { startTestSesame, startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';

const basic = `Basic ${Buffer.from('shop').toString('base64')}`;
const client = { client_id: 'shop', redirect_uris: ['http://localhost:4173/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] };

async function statusOfChallenge(start: () => Promise<TestSesame>): Promise<number> {
  const t = await start();
  try {
    const res = await fetch(`${t.url}/v1/client/challenge`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic }, body: '{"action":"login"}' });
    return res.status;
  } finally {
    await t.stop();
  }
}

describe('mounting the passkey routes of the client API', { timeout: 120_000 }, () => {
  it('answers with the feature on and passkeys usable, 404 with the feature off, with passkeys off, or on an IP issuer', async () => {
    const on = { features: { authsignalApi: { enabled: true } }, clients: [client] };
    expect(await statusOfChallenge(() => startTestSesameOnLocalhost('sqlite', on))).toBe(200);
    expect(await statusOfChallenge(() => startTestSesameOnLocalhost('sqlite', { ...on, features: { authsignalApi: { enabled: false } } }))).toBe(404);
    expect(await statusOfChallenge(() => startTestSesameOnLocalhost('sqlite', { ...on, passkeys: { enabled: false } }))).toBe(404);
    expect(await statusOfChallenge(() => startTestSesame('sqlite', on))).toBe(404);
  });
});
