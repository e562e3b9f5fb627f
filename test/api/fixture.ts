// Configuration fixture of the Auth0-compatible API tests, and the emailed link they start from.
import { expect } from 'vitest';
import type { TestSesame } from '../helpers/sesame.js';
import { linkFrom } from '../helpers/smtp.js';

export const OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';
export const SESAME_OTP = 'urn:sesame:params:oauth:grant-type:passwordless-otp';
export const CALLBACK = 'http://127.0.0.1:9/cb';
export const WEB_ORIGIN = 'http://127.0.0.1:9';

/** The token endpoint's answer for scope `openid email` to a client that may use the refresh_token grant (so it gets one). */
export const EMAIL_SCOPE_TOKENS = {
  access_token: expect.any(String),
  expires_in: 3600,
  id_token: expect.any(String),
  refresh_token: expect.any(String),
  scope: 'openid email',
  token_type: 'Bearer',
};
/** The OTP grant's refusal of a wrong, used or never sent code (one answer for all, so it tells nothing). */
export const WRONG_CODE = { error: 'invalid_grant', error_description: 'Wrong email or verification code.' };

export const apiFixture = {
  clients: [
    {
      client_id: 'native',
      client_secret: 'native-secret-native-secret-native',
      client_name: 'Native App',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token', OTP, SESAME_OTP],
      first_party: true,
      trust_forwarded_for: true,
    },
    {
      client_id: 'spa',
      client_name: 'Browser App',
      token_endpoint_auth_method: 'none',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', OTP],
      web_origins: [WEB_ORIGIN],
      first_party: true,
    },
    {
      client_id: 'backend',
      client_secret: 'backend-secret-backend-secret-xx',
      redirect_uris: [CALLBACK],
      grant_types: ['client_credentials'],
    },
  ],
  apis: [{ identifier: 'https://api.example', scopes: ['read', 'write'] }],
};

/** Sends an Auth0-style sign-in link to `email` for the `native` client; the verify_redirect URL from the mail. */
export async function sendEmailLink(t: TestSesame, email: string, authParams: Record<string, string>): Promise<string> {
  const native = apiFixture.clients[0]!;
  const res = await fetch(`${t.url}/passwordless/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: native.client_id, client_secret: native.client_secret, connection: 'email', email, authParams }),
  });
  expect(res.status).toBe(200);
  return linkFrom(await t.mail.next(email), '/passwordless/verify_redirect');
}
