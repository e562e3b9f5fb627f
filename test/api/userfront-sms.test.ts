// Userfront's code endpoints over SMS (`channel: "sms"`, `phoneNumber`), with the country allow-list.
import { userfrontTenant } from '../helpers/userfront-app.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

describe('Userfront-compatible code endpoints over SMS', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', {
      clients: [userfrontTenant('demo1234', { redirect_uris: ['http://127.0.0.1:9/dashboard'] })],
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: { type: 'capture' } },
      ],
    });
  });
  afterAll(() => t?.stop());

  const call = async (method: string, body: unknown) => {
    const res = await fetch(`${t.url}/v0/tenants/demo1234/auth/code`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('sends a code by SMS and logs in with it', async () => {
    const sent = await call('POST', { channel: 'sms', phoneNumber: '+1 650 253 0000' });
    expect(sent).toEqual({ status: 200, body: { message: 'OK', result: { channel: 'sms', phoneNumber: '+16502530000' } } });
    const sms = await t.sesame.services.db.prisma.outboxMessage.findFirstOrThrow({ where: { channel: 'sms', recipient: '+16502530000' } });
    const code = /^(\d{6}) /.exec(sms.text)![1]!;
    const login = await call('PUT', { channel: 'sms', phoneNumber: '+16502530000', verificationCode: code });
    expect(login.status).toBe(200);
    expect(login.body.message).toBe('OK');
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { phoneNumber: '+16502530000' } });
    expect(decodeJwt(login.body.tokens.id.value)).toMatchObject({ sub: user.id, acr: 'urn:sesame:acr:sms', amr: ['sms', 'otp'] });
    expect(user.phoneVerified).toBe(true);
  });

  it('refuses numbers of other countries', async () => {
    expect(await call('POST', { channel: 'sms', phoneNumber: '+447400123411' })).toEqual({
      status: 400,
      body: { statusCode: 400, error: 'Bad Request', message: 'Codes cannot be sent to phone numbers in this country.' },
    });
  });
});
