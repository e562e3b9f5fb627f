// Drives the hosted pages with the form client: authorize → email → code from mail → back at the RP.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { authorizationRequest } from './authorization.js';
import { FormClient, type Page } from './form-client.js';
import { codeFrom } from './smtp.js';
import type { TestSesame } from './sesame.js';

export async function rpConfig(t: TestSesame, clientId: string, secret?: string) {
  const config = await oidc.discovery(new URL(t.issuer), clientId, secret, secret ? oidc.ClientSecretPost(secret) : oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
  return config;
}

/** An access token of client `clientId` from the client_credentials grant (`params`: audience, scope...). */
export async function clientCredentialsToken(t: TestSesame, clientId: string, secret: string, params: Record<string, string> = {}): Promise<string> {
  return (await oidc.clientCredentialsGrant(await rpConfig(t, clientId, secret), params)).access_token;
}

export interface Started {
  browser: FormClient;
  page: Page & { location?: string };
  verifier: string;
  state: string;
  nonce: string;
}

/** Starts an authorization request and returns the first hosted page (the email step). */
export async function startLogin(t: TestSesame, config: oidc.Configuration, params: Record<string, string> = {}, browser = new FormClient()): Promise<Started> {
  const { url, verifier, state, nonce } = await authorizationRequest(config, {
    redirect_uri: 'http://127.0.0.1:9/cb',
    // No profile: a new account would stop at the optional name step (test/oidc/claims.test.ts).
    scope: 'openid email',
    ...params,
  });
  const page = await browser.follow(url.toString(), t.url);
  return { browser, page, verifier, state, nonce };
}

/** Submits the email, reads the code from the SMTP sink and submits it; returns what followed. */
export async function signInWithEmail(t: TestSesame, started: Started, email: string) {
  const codePage = await started.browser.submit(started.page, '/email', { email }, t.url);
  expect(codePage.status).toBe(200);
  expect(codePage.html).toContain('autocomplete="one-time-code"');
  const code = codeFrom(await t.mail.next(email.trim().toLowerCase()));
  return { codePage, code, result: await started.browser.submit(codePage, '/code', { code }, t.url) };
}

/**
 * The tokens of a sign-in that came back to the app at `location` (its redirect with the code):
 * the code exchanged with the PKCE verifier, state and nonce of the request `started` made.
 */
export function exchangeCode(
  config: oidc.Configuration,
  started: Pick<Started, 'verifier' | 'state' | 'nonce'>,
  location: string | URL | undefined,
  checks: { maxAge?: number } = {},
) {
  return oidc.authorizationCodeGrant(config, new URL(location!), { pkceCodeVerifier: started.verifier, expectedState: started.state, expectedNonce: started.nonce, ...checks });
}
