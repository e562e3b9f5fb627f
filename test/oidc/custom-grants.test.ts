// The custom grants issue tokens one way (src/oidc/grants/issue.ts), so they agree where they used
// to drift: `phone` is an OIDC scope for both, and a repeated `resource` is refused with
// invalid_request for both, by oidc-provider before the grant runs (as for any repeated parameter).
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { AT_TOKEN_ENDPOINT, issueLoginTicket } from '../../src/passwordless/login-tickets.js';

const LOGIN_TICKET = 'urn:sesame:params:oauth:grant-type:login-ticket';
const OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';
const fixture = {
  clients: [
    { client_id: 'tickets', token_endpoint_auth_method: 'none', response_types: [], redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: [LOGIN_TICKET] },
    { client_id: 'otp', token_endpoint_auth_method: 'none', response_types: [], redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: [OTP], first_party: true },
  ],
  apis: [{ identifier: 'https://api.example', scopes: ['read'] }],
};

describe('custom grants', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());

  const token = (form: [string, string][]) =>
    fetch(`${t.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) }).then(
      async (res) => [res.status, await res.json()] as const,
    );
  const ticket = async (userId: string) => issueLoginTicket(t.sesame.services.db, t.sesame.services.keyring, userId, 'tickets', ['sms', 'otp'], AT_TOKEN_ENDPOINT);

  it('login-ticket grant: phone is an OIDC scope, its claims in the ID token', async () => {
    await t.sesame.services.db.prisma.user.create({ data: { id: 'phone-user', phoneNumber: '+14155550100', phoneVerified: true } });
    const [status, body] = await token([
      ['grant_type', LOGIN_TICKET],
      ['client_id', 'tickets'],
      ['login_ticket', await ticket('phone-user')],
      ['scope', 'openid phone'],
    ]);
    expect([status, body.scope]).toEqual([200, 'openid phone']);
    expect(decodeJwt(body.id_token)).toMatchObject({
      sub: 'phone-user',
      phone_number: '+14155550100',
      phone_number_verified: true,
      acr: 'urn:sesame:acr:sms',
      amr: ['sms', 'otp'],
    });
  });

  it('refuses a repeated resource with invalid_request on both grants', async () => {
    const twice: [string, string][] = [
      ['resource', 'https://api.example'],
      ['resource', 'https://api.example'],
    ];
    const refusal = [400, { error: 'invalid_request', error_description: "'resource' parameter must not be provided twice" }];
    expect(await token([['grant_type', LOGIN_TICKET], ['client_id', 'tickets'], ['login_ticket', 'whatever'], ...twice])).toEqual(refusal);
    expect(await token([['grant_type', OTP], ['client_id', 'otp'], ['username', 'a@example.com'], ['otp', '123456'], ['realm', 'email'], ...twice])).toEqual(refusal);
  });
});
