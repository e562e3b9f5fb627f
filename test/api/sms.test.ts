// The Auth0-compatible API with `connection: sms`: a code to `phone_number`, then the OTP grant with
// `realm: sms`; the same limits and country allow-list as the hosted pages.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { OTP, apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;

describe('passwordless API over SMS', () => {
  let t: TestSesame;
  let rp: oidc.Configuration;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', {
      ...apiFixture,
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: { type: 'capture' } },
      ],
    });
    rp = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => t?.stop());

  const start = (body: Record<string, unknown>) =>
    fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'sms', ...body }),
    });

  it('sends a code by SMS and exchanges it with realm sms', async () => {
    const res = await start({ phone_number: '+16502530000' });
    expect([res.status, await res.json()]).toEqual([200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), phone_number: '+16502530000', phone_verified: false }]);
    const sms = await t.sesame.services.db.prisma.outboxMessage.findFirstOrThrow({ where: { channel: 'sms', recipient: '+16502530000' } });
    const otp = /^(\d{6}) /.exec(sms.text)![1]!;
    const tokens = await oidc.genericGrantRequest(rp, OTP, { username: '+1 650 253 0000', otp, realm: 'sms', scope: 'openid phone' });
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ phone_number: '+16502530000', phone_number_verified: true });
  });

  it('refuses other countries, bad numbers and links by SMS', async () => {
    const cases: Array<[Response, number, Record<string, string>]> = [
      [await start({ phone_number: '+447400123411' }), 400, { error: 'bad.phone_number', error_description: 'Codes cannot be sent to phone numbers in this country.' }],
      [await start({ phone_number: 'call me' }), 400, { error: 'bad.phone_number', error_description: 'Please provide a valid phone number in E.164 format, like +14155550100.' }],
      [await start({ phone_number: '+16502530001', send: 'link' }), 400, { error: 'bad.send', error_description: 'Links are sent by email only; use send "code" with sms.' }],
    ];
    for (const [res, status, body] of cases) expect([res.status, await res.json()]).toEqual([status, body]);
  });
});
