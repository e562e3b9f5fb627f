// The legacy Auth0 Node SDK (`auth0/legacy`) signing in by SMS against Sesame over real HTTPS with an
// Auth0-style issuer `https://localhost:<port>/`: passwordless.sendSMS (connection sms), the code read
// from the text the Twilio channel sent to a local Messages API, then passwordless.loginWithSMS (the
// OTP grant with realm sms), whose id_token the SDK checks itself.
import { AuthenticationClient } from 'auth0/legacy';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTwilio, smsCode, TWILIO_FROM, type FakeTwilio } from '../helpers/fake-twilio.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;

/** What the SDK surfaces for an error answer: AuthApiError with the status and the OAuth body. */
const authError = (statusCode: number, error: string, error_description: string) =>
  expect.objectContaining({ name: 'AuthApiError', statusCode, error, error_description, message: error_description });

describe('Auth0 legacy AuthenticationClient over SMS (auth0/legacy)', () => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  let domain: string;
  let auth0: AuthenticationClient;

  beforeAll(async () => {
    twilio = await startFakeTwilio();
    const port = await freePort();
    domain = `localhost:${port}`;
    t = await startTestSesame(
      'sqlite',
      {
        ...apiFixture,
        port,
        issuer: `https://${domain}/`,
        connections: [
          { id: 'email', type: 'email' },
          { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: twilio.provider() },
        ],
      },
      { tls: true },
    );
    auth0 = new AuthenticationClient({ domain, clientId: NATIVE.client_id, clientSecret: NATIVE.client_secret });
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  it('sends a code by SMS and signs in with it (id_token checked by the SDK)', async () => {
    const phone = '+16502530000';
    const sent = await auth0.passwordless.sendSMS({ phone_number: phone });
    expect(sent.status).toBe(200);

    const sms = await twilio.next(phone);
    expect(sms).toMatchObject({ username: twilio.accountSid, from: TWILIO_FROM });
    const code = smsCode(sms, 'localhost');
    expect(sms.body).toMatch(new RegExp(`^${code} is your Sesame code\\.`));

    const { data, status } = await auth0.passwordless.loginWithSMS({ phone_number: phone, code, scope: 'openid phone offline_access' });
    expect(status).toBe(200);
    expect(data).toMatchObject({ access_token: expect.any(String), id_token: expect.any(String), refresh_token: expect.any(String), token_type: 'Bearer' });
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { phoneNumber: phone } });
    expect(decodeJwt(data.id_token!)).toMatchObject({ iss: t.issuer, aud: 'native', sub: user.id, phone_number: phone, phone_number_verified: true });

    // The code is used up; the refresh token keeps the phone claims.
    await expect(auth0.passwordless.loginWithSMS({ phone_number: phone, code })).rejects.toEqual(authError(403, 'invalid_grant', 'Wrong phone number or verification code.'));
    const refreshed = await auth0.oauth.refreshTokenGrant({ refresh_token: data.refresh_token! });
    expect(decodeJwt(refreshed.data.id_token!)).toMatchObject({ sub: user.id, phone_number: phone });
  });

  it('refuses a wrong code, then accepts the right one', async () => {
    const phone = '+16502530001';
    expect((await auth0.passwordless.sendSMS({ phone_number: phone })).status).toBe(200);
    const code = smsCode(await twilio.next(phone), 'localhost');
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await expect(auth0.passwordless.loginWithSMS({ phone_number: phone, code: wrong })).rejects.toEqual(
      authError(403, 'invalid_grant', 'Wrong phone number or verification code.'),
    );
    const { data } = await auth0.passwordless.loginWithSMS({ phone_number: phone, code, scope: 'openid phone' });
    expect(decodeJwt(data.id_token!)).toMatchObject({ phone_number: phone, phone_number_verified: true });
  });

  it('surfaces a number outside the allowed countries as 400 bad.phone_number, and texts nothing', async () => {
    const before = twilio.messages.length;
    const queued = await t.sesame.services.db.prisma.outboxMessage.count();
    await expect(auth0.passwordless.sendSMS({ phone_number: '+447400123411' })).rejects.toEqual(
      authError(400, 'bad.phone_number', 'Codes cannot be sent to phone numbers in this country.'),
    );
    await expect(auth0.passwordless.sendSMS({ phone_number: 'call me' })).rejects.toEqual(
      authError(400, 'bad.phone_number', 'Please provide a valid phone number in E.164 format, like +14155550100.'),
    );
    // No outbox row was added (rows come only from requests, and this file runs one test at a
    // time). The outbox is the worker's only input, so nothing can be texted later either: there
    // is nothing to wait and watch for.
    expect(await t.sesame.services.db.prisma.outboxMessage.count()).toBe(queued);
    expect(await t.sesame.services.db.prisma.outboxMessage.count({ where: { recipient: '+447400123411' } })).toBe(0);
    expect(twilio.messages.length).toBe(before);
  });
});
