// What the console's users tests share (the admin's sign-in is admin-helpers.ts'): a user of the test RP signed in with an
// emailed code who holds a refresh token (a session and a grant for the console to end).
import { expect } from 'vitest';
import { oidcFixture } from '../oidc/fixture.js';
import { FormClient } from '../helpers/form-client.js';
import { rpConfig, startLogin, exchangeCode } from '../helpers/login.js';
import { waitFor } from '../helpers/wait.js';
import { codeFrom } from '../helpers/smtp.js';
import type { TestSesame } from '../helpers/sesame.js';
import { ADMIN_FIXTURE } from './admin-helpers.js';

export { consoleSignIn, csrfOf, userWithApp } from './admin-helpers.js';

const APP = oidcFixture.clients[0]!;

/** This feature's configuration: the admin console's, with a short resend cooldown (one address signs in several times). */
// The RP's sign-ins go straight back to it: no passkey offer on a localhost issuer (browser tests).
export const USERS_FIXTURE = {
  ...ADMIN_FIXTURE,
  clients: ADMIN_FIXTURE.clients.map((c) => (c.client_id === APP.client_id ? { ...c, offer_passkeys: false } : c)),
  codes: { resendCooldown: 1 },
};

/** `email` signs in to the test RP ("app") with an emailed code at the hosted pages (waiting out the resend cooldown): what followed the code. */
export async function hostedSignIn(t: TestSesame, email: string, browser = new FormClient()) {
  const rp = await rpConfig(t, 'app', APP.client_secret);
  const started = await startLogin(t, rp, {}, browser);
  const codePage = await waitFor(
    async () => {
      const page = await browser.submit(started.page, '/email', { email }, t.url);
      return page.status === 429 ? false : page;
    },
    { interval: 200, what: 'the resend cooldown to end' },
  );
  expect(codePage.status).toBe(200);
  const result = await browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.url);
  return { rp, started, result };
}

/** `email` signs in to the test RP ("app"): its tokens (a refresh token among them). */
export async function rpSignIn(t: TestSesame, email: string, browser = new FormClient()) {
  const { rp, started, result } = await hostedSignIn(t, email, browser);
  expect(result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  const tokens = await exchangeCode(rp, started, result.location);
  expect(tokens.refresh_token).toEqual(expect.any(String));
  return { rp, tokens, browser };
}

/** The refusal a rejected promise carries (openid-client's error fields), or null when it succeeded. */
export async function refusal(promise: Promise<unknown>): Promise<{ error?: string; status?: number } | null> {
  try {
    await promise;
    return null;
  } catch (err) {
    const e = err as { error?: string; status?: number };
    return { error: e.error, status: e.status };
  }
}
