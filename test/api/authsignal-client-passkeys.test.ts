// Passkeys for risk actions through Authsignal's client API (/v1/client), on a real Sesame on both
// engines, with a software authenticator on the app's origin making real WebAuthn answers. Each
// attack is attempted: another user's passkey for an action, a challenge of one action replayed on
// another, another tenant's user signing in, a tampered usernameless challenge, a track token adding
// a passkey to an enrolled user or to a Sesame account, parallel verifies, foreign origins, garbage.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintActionToken } from '../../src/passwordless/action-tokens.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { trackAction } from '../../src/passwordless/actions.js';
import { finishAuthentication, startAuthentication, type Asker } from '../../src/passwordless/passkeys.js';
import { findDecision } from '../../src/storage/action-decisions.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

const APP = 'http://app.localhost:4173';
const OTHER = 'http://other.localhost:4174';
const WEBAUTHN = 'urn:okta:params:oauth:grant-type:webauthn';
const SECRET = 'shop-secret-shop-secret-shop-secret-shop';
const fixture = {
  features: { authsignalApi: { enabled: true } },
  clients: [
    { client_id: 'shop', client_secret: SECRET, redirect_uris: [`${APP}/cb`], web_origins: [APP], grant_types: ['authorization_code', WEBAUTHN] },
    { client_id: 'other', client_secret: `${SECRET}-other`, redirect_uris: [`${OTHER}/cb`], web_origins: [OTHER], grant_types: ['authorization_code'] },
  ],
  actions: {
    policies: {
      pay: { defaultOutcome: 'CHALLENGE', verificationMethods: ['PASSKEY'], rules: [] },
      login: { defaultOutcome: 'ALLOW', rules: [] },
      wire: { defaultOutcome: 'BLOCK', rules: [] },
      transfer: { defaultOutcome: 'CHALLENGE', verificationMethods: ['SMS'], rules: [] },
    },
  },
};

type Answer = { status: number; body: Record<string, unknown>; allowOrigin: string | null };
const basic = (tenantId: string) => `Basic ${Buffer.from(encodeURIComponent(tenantId)).toString('base64')}`;
const clientError = (status: number, error: string, errorDescription: string) => ({ status, body: { error, errorCode: error, errorDescription } });
const FAILED = clientError(400, 'invalid_credential', 'The passkey could not be verified.');
const NEEDS_CHALLENGE = clientError(403, 'forbidden', 'Adding a passkey needs the token of a passed challenge unless this is the first verification method of an app user.');

describe.each(ENGINES)('passkeys for actions (client API) on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  beforeAll(async () => void (t = await startTestSesameOnLocalhost(engine, fixture)), 120_000);
  afterAll(() => t?.stop());
  const s = () => t.sesame.services;
  const keys = () => ({ cookieKeys: s().cookieKeys, issuer: s().config.issuer });

  async function call(path: string, body: unknown, authorization: string, origin = APP): Promise<Answer> {
    const res = await fetch(`${t.url}/v1/client${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization, origin }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, allowOrigin: res.headers.get('access-control-allow-origin') };
  }
  const plain = ({ status, body }: Answer) => ({ status, body });

  async function tracked(userId: string, actionCode = 'pay', tenantId = 'shop', ttl = 600) {
    const { row } = await trackAction(s(), { tenantId, userId, actionCode, ip: '203.0.113.7' });
    return { row, bearer: `Bearer ${(await mintActionToken(keys(), 'track', row, ttl)).token}` };
  }
  const validate = (token: unknown, tenantId = 'shop') => validateToken({ ...keys(), db: s().db, config: s().config }, tenantId, { token });

  /** passkey.signUp({token}): options, the ceremony, the new passkey. */
  async function signUp(device: SoftAuthenticator, bearer: string, username = 'alice@shop.example') {
    const options = await call('/user-authenticators/passkey/registration-options', { username, authenticatorAttachment: 'platform' }, bearer);
    expect(options.status).toBe(200);
    const registrationCredential = device.register((options.body as { options: never }).options);
    return call('/user-authenticators/passkey', { registrationCredential, conditionalCreate: false, challengeId: options.body.challengeId }, bearer);
  }

  /** passkey.signIn({token}): options and the assertion, not yet verified. */
  async function assertFor(device: SoftAuthenticator, bearer: string) {
    const options = await call('/user-authenticators/passkey/authentication-options', {}, bearer);
    expect(options.status).toBe(200);
    const authenticationCredential = device.authenticate((options.body as { options: never }).options);
    return { authenticationCredential, deviceId: randomUUID(), challengeId: options.body.challengeId };
  }

  /** passkey.signIn({action}) at `tenantId`, up to the verify body. */
  async function usernameless(device: SoftAuthenticator, action: string, tenantId = 'shop', origin = APP) {
    const challenge = await call('/challenge', { action }, basic(tenantId), origin);
    expect(plain(challenge)).toEqual({ status: 200, body: { challengeId: expect.any(String) } });
    const options = await call('/user-authenticators/passkey/authentication-options', { challengeId: challenge.body.challengeId }, basic(tenantId), origin);
    expect(options.status).toBe(200);
    const authenticationCredential = device.authenticate((options.body as { options: never }).options);
    return { authenticationCredential, deviceId: randomUUID(), challengeId: options.body.challengeId as string };
  }

  /** An app user with one passkey on `device`, added through a first action. */
  async function enrolled(device = new SoftAuthenticator({ origin: APP })) {
    const userId = `app-${randomUUID()}`;
    const added = await signUp(device, (await tracked(userId)).bearer);
    expect(added.status).toBe(200);
    return { userId, device, credentialId: added.body.userAuthenticatorId as string };
  }

  it("adds an app user's first passkey with the track token (passing that challenge), then passes a later action's challenge with it", async () => {
    const device = new SoftAuthenticator({ origin: APP });
    const first = await tracked('alice-1');
    const options = await call('/user-authenticators/passkey/registration-options', { username: 'alice@shop.example', authenticatorAttachment: 'platform' }, first.bearer);
    expect(options).toMatchObject({ status: 200, allowOrigin: APP });
    expect(Object.keys(options.body).sort()).toEqual(['challengeId', 'options']);
    expect(options.body.options).toMatchObject({
      rp: { id: 'localhost' },
      user: { name: 'alice@shop.example' },
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });
    const registrationCredential = device.register(options.body.options as never);
    const added = await call('/user-authenticators/passkey', { registrationCredential, conditionalCreate: false, challengeId: options.body.challengeId }, first.bearer);
    const credentialId = device.credentials()[0]!.id;
    expect(plain(added)).toEqual({ status: 200, body: { isVerified: true, accessToken: expect.any(String), userAuthenticatorId: credentialId, userId: 'alice-1' } });
    expect(await validate(added.body.accessToken)).toMatchObject({
      isValid: true,
      state: 'CHALLENGE_SUCCEEDED',
      userId: 'alice-1',
      actionCode: 'pay',
      verificationMethod: 'PASSKEY',
    });

    const second = await tracked('alice-1');
    const verified = await call('/verify/passkey', await assertFor(device, second.bearer), second.bearer);
    expect(plain(verified)).toEqual({ status: 200, body: { isVerified: true, accessToken: expect.any(String), userId: 'alice-1', userAuthenticatorId: credentialId } });
    expect(verified.allowOrigin).toBe(APP);
    expect(await validate(verified.body.accessToken)).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', idempotencyKey: second.row.idempotencyKey });
    expect((await findDecision(s().db, 'shop', second.row.idempotencyKey))?.verifiedByAuthenticatorId).toBe(credentialId);
  });

  it('refuses a track token adding a passkey to a user who has one, or to a Sesame account; a result token may add one', async () => {
    const { userId } = await enrolled();
    const again = await tracked(userId);
    expect(plain(await call('/user-authenticators/passkey/registration-options', { username: 'x' }, again.bearer))).toEqual(NEEDS_CHALLENGE);
    // A Sesame user who signed in to the shop: the shop's track token must not put a passkey on that account.
    const sesameUser = await upsertVerifiedEmailUser(s().db, `sesame-${randomUUID()}@example.com`);
    await s().db.prisma.oidcPayload.create({
      data: { model: 'Grant', id: randomUUID(), accountId: sesameUser.id, payload: JSON.stringify({ accountId: sesameUser.id, clientId: 'shop' }) },
    });
    const forSesame = await tracked(sesameUser.id);
    expect(forSesame.row.principalId).toBe(sesameUser.id);
    expect(plain(await call('/user-authenticators/passkey/registration-options', {}, forSesame.bearer))).toEqual(NEEDS_CHALLENGE);
    // After a passed challenge, its result token adds a second passkey (and passes nothing more).
    const passed = await signUp(new SoftAuthenticator({ origin: APP }), (await tracked(`app-${randomUUID()}`)).bearer);
    const more = await signUp(new SoftAuthenticator({ origin: APP }), `Bearer ${passed.body.accessToken as string}`);
    expect(plain(more)).toEqual({ status: 200, body: { isVerified: true, userAuthenticatorId: expect.any(String), userId: expect.any(String) } });
  });

  it("refuses another user's passkey and a challenge fetched for another action; the action stays open", async () => {
    const alice = await enrolled();
    const bob = await enrolled();
    const action = await tracked(alice.userId);
    expect(plain(await call('/verify/passkey', await assertFor(bob.device, action.bearer), action.bearer))).toEqual(FAILED);
    const elsewhere = await tracked(alice.userId);
    const fetchedElsewhere = await assertFor(alice.device, elsewhere.bearer);
    expect(plain(await call('/verify/passkey', fetchedElsewhere, action.bearer))).toEqual(FAILED);
    expect((await findDecision(s().db, 'shop', action.row.idempotencyKey))?.state).toBe('CHALLENGE_REQUIRED');
    // The legitimate answer still passes it.
    expect((await call('/verify/passkey', await assertFor(alice.device, action.bearer), action.bearer)).body).toMatchObject({ isVerified: true });
  });

  it("signs a tenant's user in without a username, tracking a new action; never another tenant's, never a tampered or replayed challenge", async () => {
    const alice = await enrolled();
    const body = await usernameless(alice.device, 'login');
    const verified = await call('/verify/passkey', body, basic('shop'));
    expect(plain(verified)).toEqual({ status: 200, body: { isVerified: true, accessToken: expect.any(String), userId: alice.userId, userAuthenticatorId: alice.credentialId } });
    expect(await validate(verified.body.accessToken)).toMatchObject({
      isValid: true,
      state: 'CHALLENGE_SUCCEEDED',
      userId: alice.userId,
      actionCode: 'login',
      verificationMethod: 'PASSKEY',
    });
    expect(plain(await call('/verify/passkey', body, basic('shop')))).toEqual(FAILED);
    // The shop's user at the other tenant (whose page is on the other origin): not its user.
    const other = new SoftAuthenticator({ origin: OTHER });
    other.importCredential(alice.device.exportCredential(alice.credentialId));
    expect(plain(await call('/verify/passkey', await usernameless(other, 'login', 'other', OTHER), basic('other'), OTHER))).toEqual(FAILED);
    // The action code rides in the challengeId: changing it unbinds the challenge.
    const tampered = await usernameless(alice.device, 'login');
    const challengeId = `${tampered.challengeId.split('.')[0]}.${Buffer.from('pay').toString('base64url')}`;
    expect(plain(await call('/verify/passkey', { ...tampered, challengeId }, basic('shop')))).toEqual(FAILED);
  });

  it("tells which remembered credential ids are still this tenant's users' passkeys (isAvailableOnDevice)", async () => {
    const alice = await enrolled();
    const get = async (query: string, tenantId = 'shop', origin = APP) => {
      const res = await fetch(`${t.url}/v1/client/user-authenticators/passkey?${query}`, { headers: { authorization: basic(tenantId), origin } });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    expect(await get(`credentialIds=${alice.credentialId},unknown`)).toEqual({ status: 200, body: [{ credentialId: alice.credentialId, verifiedAt: expect.any(String) }] });
    expect(await get(`credentialIds=${alice.credentialId}`, 'other', OTHER)).toEqual(clientError(404, 'not_found', 'None of these passkeys is registered.'));
    expect(await get('credentialIds=')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });

  it("answers a blocked action's sign-in unverified, with the token validate reports BLOCK for", async () => {
    const alice = await enrolled();
    const verified = await call('/verify/passkey', await usernameless(alice.device, 'wire'), basic('shop'));
    expect(plain(verified)).toEqual({ status: 200, body: { isVerified: false, accessToken: expect.any(String), userId: alice.userId, userAuthenticatorId: alice.credentialId } });
    expect(await validate(verified.body.accessToken)).toMatchObject({ isValid: false, state: 'BLOCK', actionCode: 'wire' });
  });

  it('never passes a challenge whose rule does not allow a passkey', async () => {
    const alice = await enrolled();
    const action = await tracked(alice.userId, 'transfer');
    const refused = clientError(400, 'method_not_allowed', "A passkey is not one of the verification methods this action's rule allows.");
    expect(plain(await call('/user-authenticators/passkey/authentication-options', {}, action.bearer))).toEqual(refused);
    const signedIn = await call('/verify/passkey', await usernameless(alice.device, 'transfer'), basic('shop'));
    expect(signedIn.body).toMatchObject({ isVerified: false, userId: alice.userId });
    expect(await validate(signedIn.body.accessToken)).toMatchObject({ isValid: false, state: 'CHALLENGE_REQUIRED', actionCode: 'transfer' });
    // A first passkey added during such an action is kept, but does not pass it.
    const first = await tracked(`app-${randomUUID()}`, 'transfer');
    expect(plain(await signUp(new SoftAuthenticator({ origin: APP }), first.bearer))).toEqual({
      status: 200,
      body: { isVerified: true, userAuthenticatorId: expect.any(String), userId: first.row.userId },
    });
    expect((await findDecision(s().db, 'shop', first.row.idempotencyKey))?.state).toBe('CHALLENGE_REQUIRED');
  });

  it('passes one action once when two verifies race', async () => {
    const alice = await enrolled();
    const action = await tracked(alice.userId);
    const bodies = [await assertFor(alice.device, action.bearer), await assertFor(alice.device, action.bearer)];
    const answers = await Promise.all(bodies.map((b) => call('/verify/passkey', b, action.bearer)));
    expect(answers.filter((a) => a.status === 200 && a.body.isVerified === true)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 400).map((a) => a.body.error)).toHaveLength(1);
  });

  it("never lets an app user's passkey sign in to Sesame (Auth0 passkey grant)", async () => {
    const alice = await enrolled();
    const challenge = await fetch(`${t.url}/passkey/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'shop', client_secret: SECRET }),
    }).then((r) => r.json() as Promise<{ auth_session: string; authn_params_public_key: never }>);
    const authn_response = JSON.stringify(alice.device.authenticate(challenge.authn_params_public_key));
    const res = await fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: WEBAUTHN, client_id: 'shop', client_secret: SECRET, auth_session: challenge.auth_session, authn_response }),
    });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 403,
      body: { error: 'invalid_grant', error_description: 'The passkey could not be verified. Try again, or sign in with a code.' },
    });
  });

  it("never lets an app user's passkey sign in on the hosted pages (their ceremony, as passkey-signin.ts runs it)", async () => {
    const alice = await enrolled();
    const hosted = { boundTo: `interaction:${randomUUID()}` };
    const answer = async (asker: Asker) => {
      const { handle, options } = await startAuthentication(s(), asker);
      return finishAuthentication(s(), handle, alice.device.authenticate(options, { clientDataOrigin: t.url }), asker);
    };
    await expect(answer(hosted)).rejects.toMatchObject({ kind: 'passkeyFailed' });
    // The same passkey answers where app users may (the actions client API): only the owner's tenant was refused.
    expect(await answer({ ...hosted, appUsers: true })).toMatchObject({ passkey: { id: alice.credentialId } });
  });

  it('answers bad input, tokens and origins with the client API errors, never a 500', async () => {
    const action = await tracked(`app-${randomUUID()}`);
    const path = '/user-authenticators/passkey/authentication-options';
    expect(plain(await call(path, {}, ''))).toEqual(clientError(401, 'token_not_set', 'A token from track is required: Authorization: Bearer <token>.'));
    expect(plain(await call(path, {}, 'Bearer nope'))).toEqual(clientError(401, 'invalid_token', 'The token is not valid.'));
    const expired = await tracked(`app-${randomUUID()}`, 'pay', 'shop', -10);
    const stale = await call(path, {}, expired.bearer);
    expect(plain(stale)).toEqual(clientError(401, 'expired_token', 'The token has expired. Track the action again for a new one.'));
    expect(stale.allowOrigin).toBe(APP);
    expect(plain(await call('/challenge', { action: 'login' }, basic('nobody')))).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(plain(await call('/challenge', { action: 'no spaces' }, basic('shop')))).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(plain(await call(path, { challengeId: 'garbage' }, basic('shop')))).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(plain(await call('/verify/passkey', { authenticationCredential: 'x', challengeId: 'y' }, action.bearer))).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    const foreign = await call(path, {}, action.bearer, 'http://evil.localhost:9999');
    expect(foreign).toMatchObject({ status: 403, body: { error: 'access_denied' }, allowOrigin: null });
    const preflight = await fetch(`${t.url}/v1/client/verify/passkey`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST' } });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin'), preflight.headers.get('access-control-allow-headers')]).toEqual([
      204,
      APP,
      'authorization, content-type',
    ]);
  });
});
