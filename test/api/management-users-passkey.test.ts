// The passkey door of a blocked account: a user who signed up with a passkey through Auth0's passkey
// API (the real @auth0/auth0-auth-js, a software authenticator) is blocked through the management API;
// a valid passkey ceremony then gets invalid_grant "The account is blocked." and no grant is left;
// unblocked, the same passkey signs in again. On both engines.
import { AuthClient, PasskeyGetTokenError } from '@auth0/auth0-auth-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { CALLBACK } from './fixture.js';
import { OPS_SECRET, tokenOf } from './management-users-fixture.js';

const WEBAUTHN = 'urn:okta:params:oauth:grant-type:webauthn';
const SECRET = 'passkey-app-secret-passkey-app-secret';
const fixture = {
  clients: [
    { client_id: 'app', client_secret: SECRET, redirect_uris: [CALLBACK], grant_types: ['authorization_code', WEBAUTHN] },
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
  ],
};

describe.each(ENGINES)('the passkey grant of a blocked account on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let origin: string;
  let app: AuthClient;
  beforeAll(async () => {
    const port = await freePort();
    t = await startTestSesame(engine, { ...fixture, port, issuer: `https://localhost:${port}/` }, { tls: true });
    origin = `https://localhost:${port}`;
    app = new AuthClient({ domain: `localhost:${port}`, clientId: 'app', clientSecret: SECRET });
  }, 120_000);
  afterAll(() => t?.stop());

  const manage = async (path: string) => {
    const res = await fetch(`${t.url}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${await tokenOf(t, 'users:write')}` } });
    return res.status;
  };
  const signIn = async (device: SoftAuthenticator) => {
    const challenge = await app.passkey.challenge();
    const credential = device.authenticate(challenge.authnParamsPublicKey as never);
    return app.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: credential as never, scope: 'openid' });
  };

  it('refuses a valid passkey of a blocked account by name, and lets it in once unblocked', async () => {
    const device = new SoftAuthenticator({ origin });
    const email = `blocked-passkey-${engine}@example.com`;
    const registration = await app.passkey.register({ email, name: 'Mallory' });
    const credential = device.register(registration.authnParamsPublicKey as never);
    const first = await app.passkey.getTokenByPasskey({ authSession: registration.authSession, credential: credential as never, scope: 'openid' });
    const userId = first.claims!.sub;

    expect(await manage(`/users/${userId}/block`)).toBe(200);
    await expect(signIn(device)).rejects.toMatchObject({
      name: PasskeyGetTokenError.name,
      statusCode: 400,
      cause: { error: 'invalid_grant', error_description: 'The account is blocked.' },
    });
    expect(await t.sesame.services.db.prisma.oidcPayload.count({ where: { accountId: userId } })).toBe(0);

    expect(await manage(`/users/${userId}/unblock`)).toBe(200);
    expect((await signIn(device)).claims).toMatchObject({ sub: userId });
  });
});
