// The hosted second-factor page in Chromium for the factors that take a typed code sent elsewhere or
// saved: an SMS factor after an email sign-in (reached by "Use another method", code from the fake
// Twilio, a wrong one first), an email factor after an SMS sign-in (code from the SMTP sink), and a
// recovery code with its "codes left" page. Authenticator app and passkey: mfa-challenge.test.ts;
// without JavaScript and the attacks: test/hosted/mfa-challenge.test.ts.
import * as oidc from 'openid-client';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_ONLY, newAuthorization, useBrowser, watchProblems } from '../helpers/browser.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { smsCode, startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';
import { confirmedOob, confirmedTotp } from '../helpers/mfa-factors.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { MFA_ACR } from '../../src/oidc/acr.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser } from '../../src/storage/users.js';

const APP = oidcFixture.clients[0]!;
const MFA_APP = { ...APP, client_id: 'mfa-app', client_name: 'MFA App', mfa_policy: 'enrolled', offer_passkeys: false };
const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe('hosted MFA challenge by sent and recovery codes in Chromium', { timeout: 120_000 }, () => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  let mfaApp: oidc.Configuration;
  let n = 0;
  const chromium = useBrowser([LOOPBACK_ONLY]);

  beforeAll(async () => {
    twilio = await startFakeTwilio();
    t = await startTestSesameOnLocalhost('sqlite', {
      ...oidcFixture,
      clients: [...oidcFixture.clients, MFA_APP],
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], defaultCountry: 'US', provider: twilio.provider() },
      ],
    });
    mfaApp = await rpConfig(t, 'mfa-app', APP.client_secret);
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  const s = () => t.sesame.services;
  const nextEmail = () => `chromium-mfa-codes${++n}@example.com`;
  const nextPhone = () => `+1650253${String(2000 + ++n).slice(-4)}`;

  // A wrong code answers 400 with the page again: the console's note of it is expected.
  const refusedCode = (text: string, url: string) => text.includes('status of 400') && /\/mfa$/.test(url);

  async function newPage(context: BrowserContext) {
    const page = await context.newPage();
    return { page, problems: watchProblems(page, refusedCode) };
  }

  /** A code sign-in (email from the SMTP sink, phone from the fake Twilio) up to the MFA page. */
  async function signIn(page: Page, identifier: string) {
    const authorization = await newAuthorization(mfaApp, { redirect_uri: REDIRECT, scope: 'openid email', prompt: 'login' });
    expect((await page.goto(authorization.url.href))?.status()).toBe(200);
    await page.locator('input[name="identifier"]').fill(identifier);
    await page.locator('form[action$="/email"] button[type="submit"]').click();
    const code = identifier.startsWith('+') ? smsCode(await twilio.next(identifier)) : codeFrom(await t.mail.next(identifier));
    await page.locator('input[name="code"]').fill(code);
    const atRp = page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    atRp.catch(() => undefined);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Confirm it is you', level: 1 }).waitFor();
    return { authorization, atRp };
  }

  async function claimsOf({ authorization, atRp }: Awaited<ReturnType<typeof signIn>>) {
    const tokens = await oidc.authorizationCodeGrant(mfaApp, new URL((await atRp).url()), {
      pkceCodeVerifier: authorization.verifier,
      expectedState: authorization.state,
      expectedNonce: authorization.nonce,
    });
    return tokens.claims()!;
  }

  const leadOf = (page: Page) => page.locator('p.lead').textContent();

  it('after an email sign-in, switches to the SMS factor, refuses a wrong texted code, then takes the right one', async () => {
    const email = nextEmail();
    const phone = nextPhone();
    const user = await upsertVerifiedEmailUser(s().db, email);
    await confirmedTotp(s(), user.id);
    await confirmedOob(s(), user.id, { type: 'sms', phoneNumber: phone });
    const { page, problems } = await newPage(await chromium.newContext());
    const signedIn = await signIn(page, email);
    expect(await page.title()).toBe('Confirm it is you · Sesame');
    // The authenticator app comes first; nothing is texted until the SMS factor is chosen.
    await expect(leadOf(page)).resolves.toBe('Enter the 6‑digit code your authenticator app shows for this account.');
    const masked = `${'•'.repeat(phone.length - 3)}${phone.slice(-2)}`;
    expect(await page.getByRole('list', { name: 'Use another method' }).getByRole('link').allTextContents()).toEqual([`Send a code by text message to ${masked}`]);
    expect(twilio.messages.filter((m) => m.to === phone)).toEqual([]);

    await page.getByRole('link', { name: `Send a code by text message to ${masked}` }).click();
    await page.getByLabel('Code from the text message').waitFor();
    await expect(leadOf(page)).resolves.toBe(`We sent a code by text message to ${masked}.`);
    expect(await page.getByRole('link').allTextContents()).toEqual(['Use your authenticator app']);
    const sms = await twilio.next(phone);
    const code = smsCode(sms, new URL(t.url).hostname);
    expect(sms.body).toBe(`${code} is your Sesame code. It works for 10 minutes. Never share it.\n\n@localhost #${code}`);

    await page.getByLabel('Code from the text message').fill(wrongCode(code));
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('That code is not right. Check the newest message and try again. Tries left: 4.');
    // Like the other code pages: the field is focused again, marked invalid and described by the error.
    expect(
      await page
        .getByLabel('Code from the text message')
        .evaluate((el) => [el === document.activeElement, el.getAttribute('aria-invalid'), el.getAttribute('aria-describedby'), (el as HTMLInputElement).value]),
    ).toEqual([true, 'true', 'code-hint form-error', '']);
    await page.getByLabel('Code from the text message').fill(code);
    await page.getByRole('button', { name: 'Continue' }).click();
    const claims = await claimsOf(signedIn);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['email', 'otp', 'sms', 'mfa'], MFA_ACR]);
    // One text only: the wrong code and the page shown again sent nothing new.
    expect(twilio.messages.filter((m) => m.to === phone)).toHaveLength(1);
    expect(problems).toEqual([]);
  });

  it('after an SMS sign-in, takes the code emailed to the email factor', async () => {
    const phone = nextPhone();
    const email = nextEmail();
    const user = await upsertVerifiedPhoneUser(s().db, phone);
    await confirmedOob(s(), user.id, { type: 'email', email });
    const { page, problems } = await newPage(await chromium.newContext());
    const signedIn = await signIn(page, phone);
    await expect(leadOf(page)).resolves.toBe(`We sent a code to ${email[0]}•••@example.com.`);
    expect(await page.getByRole('link').allTextContents()).toEqual([]);
    await page.getByLabel('Code from the email').fill(codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: 'Continue' }).click();
    const claims = await claimsOf(signedIn);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['sms', 'otp', 'email', 'mfa'], MFA_ACR]);
    expect(problems).toEqual([]);
  });

  it('takes a recovery code typed on the page, says how many are left, and Continue reaches the app', async () => {
    const email = nextEmail();
    const user = await upsertVerifiedEmailUser(s().db, email);
    await confirmedTotp(s(), user.id);
    const { codes } = await generateRecoveryCodes(s(), user.id);
    const { page, problems } = await newPage(await chromium.newContext());
    const signedIn = await signIn(page, email);
    await page.getByRole('link', { name: 'Use a recovery code' }).click();
    await page.getByLabel('Recovery code').waitFor();
    await expect(leadOf(page)).resolves.toBe('Enter one of the recovery codes you saved when you set up your second factor. Each code works once.');
    expect(await page.getByRole('link').allTextContents()).toEqual(['Use your authenticator app']);
    await page.getByLabel('Recovery code').fill(codes[0]!.toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'You used a recovery code', level: 1 }).waitFor();
    expect(await page.title()).toBe('Recovery code used · Sesame');
    await expect(leadOf(page)).resolves.toBe('Recovery codes left: 9.');
    await page.getByText('You can make a new set of recovery codes on your account page at any time.').waitFor();
    await page.getByRole('link', { name: 'Continue' }).click();
    const claims = await claimsOf(signedIn);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['email', 'otp', 'rc', 'mfa'], MFA_ACR]);
    expect(problems).toEqual([]);
  });
});
