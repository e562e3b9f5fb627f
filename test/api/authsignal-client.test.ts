// The client API's code methods (/v1/client, what @authsignal/browser calls) on both engines, over
// HTTP as the SDK sends them: bearer track token, JSON, cross-origin from the tenant's origin. Email
// challenge and verify, enrolling an email address and an authenticator app, and the refusals: no
// token, an expired one, a foreign origin, a method the rule does not allow, a used token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { mintActionToken } from '../../src/passwordless/action-tokens.js';
import { ENGINES } from '../helpers/databases.js';
import { confirmedOob, totpCode } from '../helpers/mfa-factors.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { pageFixture, SHOP_ORIGIN, trackPay } from './authsignal-page-fixture.js';

describe.each(ENGINES)('the client API code methods on %s', (engine) => {
  let t: TestSesame;
  let s: Services;
  beforeAll(async () => {
    t = await startTestSesame(engine, pageFixture());
    s = t.sesame.services;
  });
  afterAll(() => t?.stop());
  const deps = () => ({ cookieKeys: s.cookieKeys, issuer: s.config.issuer, db: s.db, config: s.config });

  /** A call as the SDK makes it from the shop's page. */
  async function call(path: string, token: string | null, body?: unknown, origin = SHOP_ORIGIN) {
    const headers: Record<string, string> = { 'content-type': 'application/json', origin };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${t.url}/v1/client${path}`, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, cors: res.headers.get('access-control-allow-origin') };
  }

  it('answers preflights for the SDK headers', async () => {
    const res = await fetch(`${t.url}/v1/client/verify/email-otp`, {
      method: 'OPTIONS',
      headers: { origin: SHOP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(res.status).toBe(204);
    expect(Object.fromEntries(['access-control-allow-origin', 'access-control-allow-headers', 'access-control-allow-methods'].map((h) => [h, res.headers.get(h)]))).toEqual({
      'access-control-allow-origin': SHOP_ORIGIN,
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
    });
  });

  it('challenges and verifies an email code: a wrong one says so, the right one gives a result token once', async () => {
    const email = `client-${Date.now()}@example.com`;
    const a = await trackPay(s);
    await confirmedOob(s, a.row.principalId!, { type: 'email', email });
    expect(await call('/challenge/email-otp', a.token)).toEqual({ status: 200, body: { challengeId: `a.${a.row.id}` }, cors: SHOP_ORIGIN });
    const code = codeFrom(await t.mail.next(email));
    const wrong = await call('/verify/email-otp', a.token, { verificationCode: code === '000000' ? '111111' : '000000' });
    expect(wrong).toEqual({ status: 200, body: { isVerified: false, failureReason: 'CODE_INVALID_OR_EXPIRED' }, cors: SHOP_ORIGIN });
    const right = await call('/verify/email-otp', a.token, { verificationCode: code });
    expect(right).toEqual({ status: 200, body: { isVerified: true, accessToken: expect.any(String) }, cors: SHOP_ORIGIN });
    expect(await validateToken(deps(), 'shop', { token: right.body.accessToken })).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', verificationMethod: 'EMAIL_OTP' });
    // The SDK keeps the result token; the action is over, so nothing more can be sent or passed with either token.
    const closed = { error: 'bad_request', errorCode: 'bad_request', errorDescription: 'The action is not waiting for a challenge.' };
    expect(await call('/challenge/email-otp', right.body.accessToken as string)).toEqual({ status: 400, body: closed, cors: SHOP_ORIGIN });
    expect(await call('/verify/email-otp', a.token, { verificationCode: code })).toEqual({ status: 400, body: closed, cors: SHOP_ORIGIN });
  });

  it('enrols an email address and an authenticator app for a user with none of the methods', async () => {
    const email = `enrol-${Date.now()}@example.com`;
    const a = await trackPay(s);
    const enrolled = await call('/user-authenticators/email-otp', a.token, { email });
    expect(enrolled).toEqual({ status: 200, body: { userAuthenticatorId: expect.stringMatching(/^email\|/), userId: a.row.userId }, cors: SHOP_ORIGIN });
    const code = codeFrom(await t.mail.next(email));
    expect((await call('/verify/email-otp', a.token, { verificationCode: code })).body).toEqual({ isVerified: true, accessToken: expect.any(String) });

    const b = await trackPay(s);
    const totp = await call('/user-authenticators/totp', b.token);
    expect(totp).toEqual({
      status: 200,
      body: {
        userAuthenticatorId: expect.stringMatching(/^totp\|/),
        userId: b.row.userId,
        uri: expect.stringMatching(/^otpauth:\/\/totp\//),
        secret: expect.stringMatching(/^[A-Z2-7]+$/),
      },
      cors: SHOP_ORIGIN,
    });
    // The app is the user's first factor: the answer carries their recovery codes (the SDK passes them on as data.recoveryCodes).
    const verified = await call('/verify/totp', b.token, { verificationCode: totpCode(totp.body.secret as string) });
    expect(verified.body).toEqual({ isVerified: true, accessToken: expect.any(String), recoveryCodes: expect.any(Array) });
    expect(verified.body.recoveryCodes).toHaveLength(10);
    expect((await validateToken(deps(), 'shop', { token: verified.body.accessToken })).verificationMethod).toBe('AUTHENTICATOR_APP');
  });

  it('gives no recovery codes with an authenticator app that is not the first factor', async () => {
    const a = await trackPay(s);
    // A text-message factor the rule does not allow: the user may set up an app, but it is not their first factor.
    await confirmedOob(s, a.row.principalId!, { type: 'sms', phoneNumber: '+447700900123' });
    const totp = await call('/user-authenticators/totp', a.token);
    expect(totp.status).toBe(200);
    const verified = await call('/verify/totp', a.token, { verificationCode: totpCode(totp.body.secret as string) });
    expect(verified).toEqual({ status: 200, body: { isVerified: true, accessToken: expect.any(String) }, cors: SHOP_ORIGIN });
  });

  it('refuses a missing or expired token, a foreign origin, and a new factor for a user who has one', async () => {
    const a = await trackPay(s);
    await confirmedOob(s, a.row.principalId!, { type: 'email', email: `has-${Date.now()}@example.com` });
    expect(await call('/challenge/email-otp', null)).toEqual({
      status: 401,
      body: { error: 'token_not_set', errorCode: 'token_not_set', errorDescription: 'A token from track is required: Authorization: Bearer <token>.' },
      cors: SHOP_ORIGIN,
    });
    const keys = { cookieKeys: s.cookieKeys, issuer: s.config.issuer };
    const old = await mintActionToken(keys, 'track', a.row, 60, new Date(Date.now() - 3_600_000));
    expect(await call('/verify/email-otp', old.token, { verificationCode: '123456' })).toEqual({
      status: 401,
      body: { error: 'expired_token', errorCode: 'expired_token', errorDescription: 'The token has expired. Track the action again for a new one.' },
      cors: SHOP_ORIGIN,
    });
    expect(await call('/challenge/email-otp', a.token, undefined, 'https://evil.example')).toEqual({
      status: 403,
      body: { error: 'access_denied', errorCode: 'access_denied', errorDescription: "Origin https://evil.example is not one of this application's origins." },
      cors: 'https://evil.example',
    });
    // Another tenant's token, used from this tenant's page: its tenant's origins do not include this one.
    const foreign = await trackPay(s, { tenantId: 'other' });
    expect(await call('/challenge/email-otp', foreign.token)).toEqual({
      status: 403,
      body: { error: 'access_denied', errorCode: 'access_denied', errorDescription: `Origin ${SHOP_ORIGIN} is not one of this application's origins.` },
      cors: SHOP_ORIGIN,
    });
    // Holding the track token is not enough to add a factor that would pass the challenge.
    const notAllowed = { error: 'bad_request', errorCode: 'bad_request', errorDescription: 'This verification method is not available for this action.' };
    expect(await call('/user-authenticators/totp', a.token)).toEqual({ status: 400, body: notAllowed, cors: SHOP_ORIGIN });
    expect(await call('/verify/totp', a.token, { verificationCode: '123456' })).toEqual({ status: 400, body: notAllowed, cors: SHOP_ORIGIN });
    expect(await call('/verify/email-otp', a.token, {})).toMatchObject({ status: 400, body: { error: 'bad_request', errorDescription: 'verificationCode is required.' } });
    // A broken JSON body is the SDK's error shape too, never a 500.
    const broken = await fetch(`${t.url}/v1/client/verify/email-otp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${a.token}`, origin: SHOP_ORIGIN },
      body: '{"verificationCode":',
    });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: expect.any(String), errorCode: expect.any(String) });
  });
});

describe('recovery codes turned off (mfa.factors without recovery-code)', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', { ...pageFixture(), mfa: { factors: ['totp', 'email'] } });
  });
  afterAll(() => t?.stop());

  it('confirms a first authenticator app without any', async () => {
    const a = await trackPay(t.sesame.services);
    const headers = { 'content-type': 'application/json', origin: SHOP_ORIGIN, authorization: `Bearer ${a.token}` };
    const totp = (await (await fetch(`${t.url}/v1/client/user-authenticators/totp`, { method: 'POST', headers })).json()) as { secret: string };
    const res = await fetch(`${t.url}/v1/client/verify/totp`, { method: 'POST', headers, body: JSON.stringify({ verificationCode: totpCode(totp.secret) }) });
    expect([res.status, await res.json()]).toEqual([200, { isVerified: true, accessToken: expect.any(String) }]);
  });
});
