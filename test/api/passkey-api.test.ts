// Auth0's native passkey API (POST /passkey/register, /passkey/challenge, the webauthn grant with its
// JSON body at /oauth/token) driven by the real @auth0/auth0-auth-js against Sesame over HTTPS, with
// a software authenticator making the ceremony responses, on both engines. Each attack is attempted:
// pre-hijacking an address (an existing account, a squatter later outed by the owner's code), a
// replayed auth_session, a session of one kind or client used for another, a phishing origin,
// garbage bodies, too many ceremonies, closed sign-up.
import { AuthClient, PasskeyChallengeError, PasskeyGetTokenError, PasskeyRegisterError } from '@auth0/auth0-auth-js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPasskeys } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { SoftAuthenticator, toSpaJsShape } from '../helpers/soft-authenticator.js';
import { CALLBACK, OTP } from './fixture.js';

const WEBAUTHN = 'urn:okta:params:oauth:grant-type:webauthn';
const SECRET = 'passkey-app-secret-passkey-app-secret';
const SPA_ORIGIN = 'https://app.localhost:8443';
const fixture = {
  clients: [
    { client_id: 'app', client_secret: SECRET, redirect_uris: [CALLBACK], grant_types: ['authorization_code', 'refresh_token', OTP, WEBAUTHN], trust_forwarded_for: true },
    { client_id: 'spa', token_endpoint_auth_method: 'none', redirect_uris: [CALLBACK], grant_types: ['authorization_code', WEBAUTHN], web_origins: [SPA_ORIGIN] },
    { client_id: 'other', client_secret: `${SECRET}-other`, redirect_uris: [CALLBACK], grant_types: ['authorization_code', WEBAUTHN] },
    { client_id: 'plain', client_secret: `${SECRET}-plain`, redirect_uris: [CALLBACK], grant_types: ['authorization_code', OTP] },
  ],
  apis: [{ identifier: 'https://api.example', scopes: ['read'] }],
};

type Answer = { status: number; body: unknown };
const oauth = (status: number, error: string, error_description: string): Answer => ({ status, body: { error, error_description } });
const EXPIRED = oauth(403, 'invalid_grant', 'This passkey request expired or was already used. Start again.');
const FAILED = oauth(403, 'invalid_grant', 'The passkey could not be verified. Try again, or sign in with a code.');

async function sesameWithTls(engine: 'sqlite' | 'postgresql', extra: Record<string, unknown> = {}) {
  const port = await freePort();
  const t = await startTestSesame(engine, { ...fixture, ...extra, port, issuer: `https://localhost:${port}/` }, { tls: true });
  return { t, domain: `localhost:${port}`, origin: `https://localhost:${port}` };
}

async function post(t: TestSesame, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer & { headers: Headers }> {
  const res = await fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text, headers: res.headers };
}
const answer = ({ status, body }: Answer): Answer => ({ status, body });

describe.each(ENGINES)('Auth0 passkey API on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let origin: string;
  let app: AuthClient;
  let n = 0;
  const nextEmail = () => `passkey${++n}-${engine}@example.com`;
  const app$ = { client_id: 'app', client_secret: SECRET };

  beforeAll(async () => {
    const started = await sesameWithTls(engine);
    ({ t, origin } = started);
    app = new AuthClient({ domain: started.domain, clientId: 'app', clientSecret: SECRET });
  }, 120_000);
  afterAll(() => t?.stop());

  /** A sign-up through auth-js: the register challenge, the ceremony, the token. */
  async function signUp(device: SoftAuthenticator, email = nextEmail()) {
    const challenge = await app.passkey.register({ email, name: 'Alice' });
    const credential = device.register(challenge.authnParamsPublicKey as never);
    const tokens = await app.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: credential as never, scope: 'openid email' });
    return { email, tokens };
  }

  it('signs a new user up and back in through auth-js, with passkey amr and acr, the address unverified', async () => {
    const meta = await app.getServerMetadata();
    expect(meta.grant_types_supported).toContain(WEBAUTHN);
    const device = new SoftAuthenticator({ origin });
    const { email, tokens } = await signUp(device);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect([user.emailVerified, user.name]).toEqual([false, 'Alice']);
    expect(tokens.claims).toMatchObject({ sub: user.id, aud: 'app', email, email_verified: false, amr: ['hwk', 'user'], acr: 'urn:sesame:acr:passkey' });
    expect(await countPasskeys(t.sesame.services.db, user.id)).toBe(1);

    const challenge = await app.passkey.challenge();
    expect(Object.keys(challenge.authnParamsPublicKey).sort()).toEqual(['challenge', 'rpId', 'timeout', 'userVerification']);
    expect(challenge.authnParamsPublicKey).toMatchObject({ rpId: 'localhost', userVerification: 'required', timeout: 300_000 });
    const credential = device.authenticate(challenge.authnParamsPublicKey as never);
    const again = await app.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: credential as never, audience: 'https://api.example' });
    expect(again.claims).toMatchObject({ sub: user.id, amr: ['hwk', 'user'], acr: 'urn:sesame:acr:passkey' });
    expect(decodeJwt(again.accessToken)).toMatchObject({ aud: 'https://api.example', sub: user.id, client_id: 'app' });
  });

  it('answers /passkey/register exactly as Auth0 does, with nothing spa-js cannot decode', async () => {
    const res = await post(t, '/passkey/register', { ...app$, user_profile: { email: nextEmail(), name: 'Bob' }, realm: 'Username-Password-Authentication' });
    expect(answer(res)).toEqual({
      status: 200,
      body: {
        auth_session: expect.stringMatching(/^[\w-]{32}$/),
        authn_params_public_key: {
          challenge: expect.stringMatching(/^[\w-]+$/),
          rp: { id: 'localhost', name: 'Sesame' },
          user: { id: expect.stringMatching(/^[\w-]{43}$/), name: `passkey${n}-${engine}@example.com`, displayName: 'Bob' },
          pubKeyCredParams: [
            { alg: -8, type: 'public-key' },
            { alg: -7, type: 'public-key' },
            { alg: -257, type: 'public-key' },
          ],
          authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
          timeout: 300_000,
        },
      },
    });
  });

  it('takes a public SPA client from its web origin (under the RP id), the spa-js shapes and a JSON token request', async () => {
    const preflight = await fetch(`${t.url}/passkey/register`, {
      method: 'OPTIONS',
      headers: { origin: SPA_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,auth0-client' },
    });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin'), preflight.headers.get('access-control-allow-headers')]).toEqual([
      204,
      SPA_ORIGIN,
      'content-type, auth0-client, x-request-language, authorization',
    ]);
    const device = new SoftAuthenticator({ origin: SPA_ORIGIN });
    const email = nextEmail();
    const started = await post(t, '/passkey/register', { client_id: 'spa', user_profile: { email } }, { origin: SPA_ORIGIN });
    expect([started.status, started.headers.get('access-control-allow-origin')]).toEqual([200, SPA_ORIGIN]);
    const { auth_session, authn_params_public_key } = started.body as { auth_session: string; authn_params_public_key: never };
    const authn_response = toSpaJsShape(device.register(authn_params_public_key));
    const tokens = await post(t, '/oauth/token', { client_id: 'spa', grant_type: WEBAUTHN, auth_session, authn_response, scope: 'openid profile email' }, { origin: SPA_ORIGIN });
    expect(tokens.status).toBe(200);
    expect(decodeJwt((tokens.body as { id_token: string }).id_token)).toMatchObject({ aud: 'spa', email, amr: ['hwk', 'user'] });

    const login = await post(t, '/passkey/challenge', { client_id: 'spa' }, { origin: SPA_ORIGIN });
    const session = login.body as { auth_session: string; authn_params_public_key: never };
    const phished = device.authenticate(session.authn_params_public_key, { clientDataOrigin: 'https://evil.localhost:8443' });
    expect(answer(await post(t, '/oauth/token', { client_id: 'spa', grant_type: WEBAUTHN, auth_session: session.auth_session, authn_response: phished }))).toEqual(FAILED);
    const foreign = await post(t, '/passkey/register', { client_id: 'spa', user_profile: { email: nextEmail() } }, { origin: 'https://evil.localhost:8443' });
    expect(answer(foreign)).toEqual(oauth(403, 'access_denied', 'Origin https://evil.localhost:8443 is not allowed for this client; add it to its web_origins.'));
  });

  it("surfaces Sesame's refusals through auth-js in Auth0's shapes", async () => {
    const wrong = new AuthClient({ domain: new URL(origin).host, clientId: 'app', clientSecret: 'not-the-secret' });
    await expect(wrong.passkey.register({ email: nextEmail() })).rejects.toMatchObject({
      name: PasskeyRegisterError.name,
      statusCode: 401,
      cause: { error: 'invalid_client', error_description: 'Client authentication failed.' },
    });
    const plain = new AuthClient({ domain: new URL(origin).host, clientId: 'plain', clientSecret: `${SECRET}-plain` });
    await expect(plain.passkey.challenge()).rejects.toMatchObject({
      name: PasskeyChallengeError.name,
      statusCode: 403,
      cause: { error: 'unauthorized_client', error_description: `Grant type '${WEBAUTHN}' not allowed for the client.` },
    });
    const challenge = await app.passkey.challenge();
    await expect(app.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: { id: 'x' } as never })).rejects.toMatchObject({
      name: PasskeyGetTokenError.name,
      statusCode: 400,
      cause: { error: 'invalid_request', error_description: 'authn_response needs id, type "public-key" and response.clientDataJSON.' },
    });
  });

  it('refuses a replayed auth_session, one of the other kind, and one of another client', async () => {
    const device = new SoftAuthenticator({ origin });
    await signUp(device);
    const login = (await post(t, '/passkey/challenge', app$)).body as { auth_session: string; authn_params_public_key: never };
    const assertion = device.authenticate(login.authn_params_public_key);
    const grant = (auth_session: string, authn_response: unknown, client: object = app$) =>
      post(t, '/oauth/token', { ...client, grant_type: WEBAUTHN, auth_session, authn_response });
    expect(answer(await grant(login.auth_session, assertion, { client_id: 'other', client_secret: `${SECRET}-other` }))).toEqual(EXPIRED);
    expect((await grant(login.auth_session, assertion)).status).toBe(200);
    expect(answer(await grant(login.auth_session, assertion))).toEqual(EXPIRED);

    const signup = (await post(t, '/passkey/register', { ...app$, user_profile: { email: nextEmail() } })).body as { auth_session: string; authn_params_public_key: never };
    const next = (await post(t, '/passkey/challenge', app$)).body as { auth_session: string; authn_params_public_key: never };
    expect(answer(await grant(signup.auth_session, device.authenticate(next.authn_params_public_key)))).toEqual(EXPIRED);
    expect(answer(await grant(next.auth_session, new SoftAuthenticator({ origin }).register(signup.authn_params_public_key)))).toEqual(EXPIRED);
  });

  it('answers garbage with invalid_request, never a 500', async () => {
    const { auth_session } = (await post(t, '/passkey/challenge', app$)).body as { auth_session: string };
    const grant = (extra: object) => post(t, '/oauth/token', { ...app$, grant_type: WEBAUTHN, ...extra });
    expect(answer(await grant({}))).toEqual(oauth(400, 'invalid_request', 'Missing required parameter(s): auth_session, authn_response.'));
    expect(answer(await grant({ auth_session, authn_response: '{not json' }))).toEqual(
      oauth(400, 'invalid_request', 'authn_response must be the serialized credential (a JSON object).'),
    );
    const half = { id: 'abc', type: 'public-key', response: { clientDataJSON: 'e30' } };
    expect(answer(await grant({ auth_session, authn_response: half }))).toEqual(
      oauth(400, 'invalid_request', 'authn_response.response needs attestationObject (sign-up) or authenticatorData and signature (sign-in).'),
    );
    const junk = { ...half, response: { clientDataJSON: '!!', authenticatorData: 'AAAA', signature: 'AAAA' } };
    expect(answer(await grant({ auth_session, authn_response: junk }))).toEqual(FAILED);
    expect(answer(await post(t, '/passkey/register', { ...app$, user_profile: 'me' }))).toEqual(
      oauth(400, 'invalid_request', 'user_profile is required: an object with email or phone_number.'),
    );
    expect(answer(await post(t, '/passkey/register', { ...app$, user_profile: { email: 'nope' } }))).toEqual(oauth(400, 'bad.email', 'Please provide a valid email address.'));
    const unparsable = await fetch(`${t.url}/passkey/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(unparsable.status).toBe(400);
    // Another grant's JSON body is still refused by oidc-provider, as before the shim.
    expect(answer(await post(t, '/oauth/token', { ...app$, grant_type: 'client_credentials' }))).toEqual(
      oauth(400, 'invalid_request', 'only application/x-www-form-urlencoded content-type bodies are supported on POST /oauth/token'),
    );
  });

  it('never adds a passkey to an existing account (pre-hijacking), and says so', async () => {
    const email = nextEmail();
    const victim = await upsertVerifiedEmailUser(t.sesame.services.db, email);
    const challenge = await app.passkey.register({ email });
    const credential = new SoftAuthenticator({ origin }).register(challenge.authnParamsPublicKey as never);
    await expect(app.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: credential as never })).rejects.toMatchObject({
      name: PasskeyGetTokenError.name,
      statusCode: 400,
      cause: {
        error: 'user_exists',
        error_description: 'The user already exists. Sign in with a code sent to this email address or phone number, then add a passkey to the account.',
      },
    });
    expect(await countPasskeys(t.sesame.services.db, victim.id)).toBe(0);
  });

  it("removes a squatter's passkeys when the address's owner proves the inbox with a code", async () => {
    const squatter = new SoftAuthenticator({ origin });
    const { email, tokens } = await signUp(squatter);
    const userId = tokens.claims!.sub;
    await app.passwordless.sendEmail({ email, send: 'code' });
    const owner = await app.getTokenByPasswordlessEmail({ email, code: codeFrom(await t.mail.next(email)), scope: 'openid email' });
    expect(owner.claims).toMatchObject({ sub: userId, email_verified: true });
    expect(await countPasskeys(t.sesame.services.db, userId)).toBe(0);
    const audit = await t.sesame.services.db.prisma.auditEvent.findFirstOrThrow({ where: { type: 'passkey.removed', userId } });
    expect(audit.reason).toBe(`1 made before ${email} was proven`);
    const login = await app.passkey.challenge();
    const credential = squatter.authenticate(login.authnParamsPublicKey as never);
    await expect(app.passkey.getTokenByPasskey({ authSession: login.authSession, credential: credential as never })).rejects.toMatchObject({ statusCode: 403 });
  });

  it('limits ceremonies per IP with 429 and Retry-After; another IP still gets through', async () => {
    const from = (ip: string) => ({ 'auth0-forwarded-for': ip });
    for (let i = 0; i < 30; i++) expect((await post(t, '/passkey/challenge', app$, from('203.0.113.7'))).status).toBe(200);
    const refused = await post(t, '/passkey/register', { ...app$, user_profile: { email: nextEmail() } }, from('203.0.113.7'));
    expect(answer(refused)).toEqual(oauth(429, 'too_many_requests', expect.stringMatching(/^Too many passkey requests; wait \d+ s\.$/) as never));
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await post(t, '/passkey/challenge', app$, from('203.0.113.8'))).status).toBe(200);
  });
});

describe('Auth0 passkey API with sign-up closed', { timeout: 120_000 }, () => {
  let t: TestSesame;
  let origin: string;
  beforeAll(async () => ({ t, origin } = await sesameWithTls('sqlite', { signUp: 'existing-only' })), 120_000);
  afterAll(() => t?.stop());

  it('refuses a sign-up challenge, and sign-in still works for existing users', async () => {
    const refused = await post(t, '/passkey/register', { client_id: 'app', client_secret: SECRET, user_profile: { email: 'new@example.com' } });
    expect(answer(refused)).toEqual(oauth(403, 'access_denied', 'Public signup is disabled: only existing users can sign in.'));
    expect(origin).toMatch(/^https:\/\/localhost:/);
    expect((await post(t, '/passkey/challenge', { client_id: 'app', client_secret: SECRET })).status).toBe(200);
  });
});

describe('Auth0 passkey API where passkeys cannot work (an issuer on an IP address)', { timeout: 120_000 }, () => {
  let t: TestSesame;
  const plain = { client_id: 'plain', client_secret: `${SECRET}-plain` };
  beforeAll(async () => (t = await startTestSesame('sqlite', { clients: fixture.clients.filter((c) => !c.grant_types.includes(WEBAUTHN)) })), 120_000);
  afterAll(() => t?.stop());

  it('has no passkey routes and no webauthn grant', async () => {
    expect(t.issuer).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(answer(await post(t, '/passkey/challenge', plain))).toEqual({ status: 404, body: 'Not Found' });
    const discovery = (await (await fetch(`${t.url}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(discovery.grant_types_supported).not.toContain(WEBAUTHN);
    const form = new URLSearchParams({ ...plain, grant_type: WEBAUTHN, auth_session: 'x', authn_response: '{}' });
    const res = await fetch(`${t.url}/oauth/token`, { method: 'POST', body: form });
    expect({ status: res.status, body: await res.json() }).toEqual(oauth(400, 'unsupported_grant_type', 'unsupported grant_type requested'));
  });
});
