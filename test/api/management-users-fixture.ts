// What the users-area tests of the management API share: a server with a management client, tokens
// of chosen scopes, a caller that checks every answer against the served OpenAPI document, and
// a user signed in through the OTP grant with a refresh token.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { managementAudience } from '../../src/oidc/resources.js';
import type { TestSesame } from '../helpers/sesame.js';
import { documentedCall, openApiDocument, type Answer } from '../helpers/openapi.js';
import { codeFrom } from '../helpers/smtp.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { waitFor } from '../helpers/wait.js';
import { OTP, apiFixture } from './fixture.js';

export const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
// A short resend cooldown: one address signs in several times (hosted pages and API) in a test.
export const usersFixture = {
  ...apiFixture,
  codes: { resendCooldown: 1 },
  clients: [
    ...apiFixture.clients,
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
  ],
};
const NATIVE = apiFixture.clients[0]!;

export async function tokenOf(t: TestSesame, scope: string, id = 'ops', secret = OPS_SECRET): Promise<string> {
  const rp = await oidc.discovery(new URL(t.issuer), id, undefined, oidc.ClientSecretPost(secret), { execute: [oidc.allowInsecureRequests] });
  const tokens = await oidc.clientCredentialsGrant(rp, { audience: managementAudience(t.issuer), scope });
  expect(tokens.scope).toBe(scope);
  return tokens.access_token;
}

export type { Answer };

/**
 * A caller of /api/v1 that checks each answer against the served OpenAPI document (test/helpers/openapi.ts):
 * an answer the document does not describe, or a body its schema refuses, fails the test.
 */
export async function documentedApi(t: TestSesame) {
  await openApiDocument(t.url);
  return (method: string, path: string, bearer: string | null, body?: unknown): Promise<Answer> => documentedCall(t.url, method, path, bearer, body);
}

/** Signs `email` in through the OTP grant of the `native` client: tokens with a refresh token. */
export async function otpSignIn(t: TestSesame, email: string) {
  const rp = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret), { execute: [oidc.allowInsecureRequests] });
  const otp = await sendCode(t, email);
  const tokens = await oidc.genericGrantRequest(rp, OTP, { username: email, otp, realm: 'email', scope: 'openid email offline_access' });
  const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
  return { rp, tokens, userId: user.id };
}

/** Sends a code to `email` through /passwordless/start (waiting out the resend cooldown) and reads it from the mail. */
export async function sendCode(t: TestSesame, email: string): Promise<string> {
  const send = () =>
    fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' }),
    });
  const status = await waitFor(
    async () => {
      const res = await send();
      return res.status === 429 ? false : res.status;
    },
    { interval: 200, what: 'the resend cooldown to end' },
  );
  expect(status).toBe(200);
  return codeFrom(await t.mail.next(email));
}

/** A hosted sign-in of `email` at the `native` client (waiting out the resend cooldown); the page or redirect after the code. */
export async function hostedSignIn(t: TestSesame, email: string) {
  const rp = await rpConfig(t, 'native', NATIVE.client_secret);
  const started = await startLogin(t, rp);
  const codePage = await waitFor(
    async () => {
      const page = await started.browser.submit(started.page, '/email', { email }, t.url);
      return page.status === 429 ? false : page;
    },
    { interval: 200, what: 'the resend cooldown to end' },
  );
  expect(codePage.status).toBe(200);
  const code = codeFrom(await t.mail.next(email));
  return started.browser.submit(codePage, '/code', { code }, t.url);
}
