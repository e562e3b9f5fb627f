// The hosted MFA enrolment in a real Chromium (issue 15 items 3 and 7), policy `always` on a
// localhost issuer (passkeys work), on both engines: an email code sign-in, then an authenticator app
// set up from the page (the key read from the DOM, the code computed with otpauth), a phone (codes
// from the fake Twilio server), an email address after a text-message sign-in (the SMTP sink), or a
// passkey made by the page's script with a CDP virtual authenticator; recovery codes, the RP's amr and acr; axe on every page.
// Attacks and bad input over HTTP: test/hosted/mfa-enrol.test.ts.
import * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_ONLY, newAuthorization, useBrowser, watchProblems } from '../helpers/browser.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { ENGINES } from '../helpers/databases.js';
import { smsCode, startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { MFA_ACR } from '../../src/oidc/acr.js';

const APP_SECRET = oidcFixture.clients[0]!.client_secret;

describe.each(ENGINES)('MFA enrolment in Chromium on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  let config: oidc.Configuration;
  let n = 0;
  const chromium = useBrowser([LOOPBACK_ONLY]);

  beforeAll(async () => {
    // No passkey offer after the sign-in: this file tests the enrolment, not the offer.
    twilio = await startFakeTwilio();
    t = await startTestSesameOnLocalhost(engine, {
      ...oidcFixture,
      mfa: { policy: 'always' },
      passkeys: { offerEnrolment: false },
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US', 'GB'], defaultCountry: 'US', provider: twilio.provider() },
      ],
    });
    config = await rpConfig(t, 'app', APP_SECRET);
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  const nextEmail = () => `chromium-enrol${++n}-${engine}@example.com`;

  /** An email code sign-in up to the enrolment's choice; returns the authorization and the promise of the browser at the RP. */
  async function toEnrolment(page: Page, email: string) {
    const authorization = await newAuthorization(config, { redirect_uri: REDIRECT, scope: 'openid email', prompt: 'login' });
    expect((await page.goto(authorization.url.href))?.status()).toBe(200);
    await page.locator('input[name="identifier"]').fill(email);
    await page.locator('form[action$="/email"] button[type="submit"]').click();
    await page.locator('input[name="code"]').fill(email.startsWith('+') ? smsCode(await twilio.next(email)) : codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // The code leads to /interaction/<uid>/mfa (the challenge page's route), which sends an enrolment here.
    await page.waitForURL(/\/interaction\/[^/]+\/mfa(\/enrol)?$/);
    const uid = /\/interaction\/([^/]+)\/mfa/.exec(page.url())![1]!;
    if (!page.url().endsWith('/mfa/enrol')) await page.goto(`${t.url}/interaction/${uid}/mfa/enrol`);
    await page.getByRole('heading', { name: 'Add a second way to sign in', level: 1 }).waitFor();
    const atRp = page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    atRp.catch(() => undefined);
    return { authorization, atRp };
  }

  async function claimsOf({ authorization, atRp }: Awaited<ReturnType<typeof toEnrolment>>) {
    const tokens = await oidc.authorizationCodeGrant(config, new URL((await atRp).url()), {
      pkceCodeVerifier: authorization.verifier,
      expectedState: authorization.state,
      expectedNonce: authorization.nonce,
    });
    return tokens.claims()!;
  }

  /** The recovery codes page: 10 codes, axe, then "I have saved these codes" and Continue. */
  async function saveCodes(page: Page, name: string) {
    await page.getByRole('heading', { name: 'Save your recovery codes', level: 1 }).waitFor();
    const codes = await page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents();
    expect(codes.map((c) => /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/.test(c))).toEqual(Array(10).fill(true));
    expect(await axeBothSchemes(page, `${name} recovery codes`)).toEqual([]);
    expect(await brokenHeadings(page)).toEqual([]);
    // Continue without the tick: the browser itself keeps the form (required), the page stays.
    await page.getByRole('button', { name: 'Continue' }).click();
    expect(await page.getByRole('checkbox', { name: 'I have saved these codes' }).evaluate((box: HTMLInputElement) => box.validity.valueMissing)).toBe(true);
    await page.getByRole('checkbox', { name: 'I have saved these codes' }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  // The /mfa page may not exist where this runs alone (it is the challenge's); its 404 is expected.
  const expected = (_text: string, url: string) => /\/mfa$/.test(url);

  it('sets up an authenticator app from the page: QR code and key, the first code, recovery codes, the MFA acr', async () => {
    const page = await (await chromium.newContext()).newPage();
    const problems = watchProblems(page, expected);
    const email = nextEmail();
    const signedIn = await toEnrolment(page, email);
    expect(await axeBothSchemes(page, 'mfa-enrol choice')).toEqual([]);
    expect(await brokenHeadings(page)).toEqual([]);
    await page.getByRole('button', { name: 'Use an authenticator app' }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app', level: 1 }).waitFor();
    expect(await page.getByRole('img', { name: 'Scan this QR code with the app.' }).isVisible()).toBe(true);
    expect(await axeBothSchemes(page, 'mfa-enrol totp')).toEqual([]);
    const key = (await page.locator('#totp-key').textContent())!;
    const totp = new TOTP({ secret: Secret.fromBase32(key.replace(/ /g, '')), algorithm: 'SHA1', digits: 6, period: 30 });
    await page.getByLabel('6-digit code from the app').fill(totp.generate());
    await page.getByRole('button', { name: 'Confirm' }).click();
    await saveCodes(page, 'totp');
    const claims = await claimsOf(signedIn);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['email', 'otp', 'mfa'], MFA_ACR]);
    expect(problems).toEqual([]);
  });

  it('enrols a phone by text message after an email sign-in, then an email address after a text-message sign-in', async () => {
    const page = await (await chromium.newContext()).newPage();
    page.setDefaultTimeout(30_000);
    const problems = watchProblems(page, expected);
    const phone = engine === 'sqlite' ? '+16502530011' : '+16502530012';
    const bySms = await toEnrolment(page, nextEmail());
    await page.getByRole('button', { name: 'Use text messages' }).click();
    await page.getByLabel('Mobile phone number').fill(phone.slice(2));
    expect(await axeBothSchemes(page, 'mfa-enrol sms')).toEqual([]);
    await page.getByRole('button', { name: 'Send a code' }).click();
    await page.getByText(`We texted a code to ${phone}.`).waitFor();
    await page.getByLabel('Code', { exact: true }).fill(smsCode(await twilio.next(phone)));
    expect(await axeBothSchemes(page, 'mfa-enrol sms code')).toEqual([]);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await saveCodes(page, 'sms');
    expect((await claimsOf(bySms)).amr).toEqual(['email', 'otp', 'sms', 'mfa']);

    // A new user signing in by text message adds an email address.
    const other = await (await chromium.newContext()).newPage();
    other.setDefaultTimeout(30_000);
    const otherProblems = watchProblems(other, expected);
    const otherPhone = engine === 'sqlite' ? '+16502530013' : '+16502530014';
    const byEmail = await toEnrolment(other, otherPhone);
    await other.getByRole('button', { name: 'Use email' }).click();
    const address = nextEmail();
    await other.getByLabel('Email address').fill(address);
    await other.getByRole('button', { name: 'Send a code' }).click();
    await other.getByLabel('Code', { exact: true }).fill(codeFrom(await t.mail.next(address)));
    await other.getByRole('button', { name: 'Confirm' }).click();
    await saveCodes(other, 'email');
    expect((await claimsOf(byEmail)).amr).toEqual(['sms', 'otp', 'email', 'mfa']);
    expect([...problems, ...otherProblems]).toEqual([]);
  });

  it('makes a passkey the second factor with the virtual authenticator; without JavaScript the page says it is needed', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    const problems = watchProblems(page, expected);
    const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
    const added: unknown[] = [];
    cdp.on('WebAuthn.credentialAdded', (event) => added.push(event));
    const email = nextEmail();
    const signedIn = await toEnrolment(page, email);
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.getByRole('heading', { name: 'Create a passkey', level: 1 }).waitFor();
    expect(await axeBothSchemes(page, 'mfa-enrol passkey')).toEqual([]);
    expect(await page.getByText('Creating a passkey needs JavaScript').isVisible()).toBe(false);
    // The authenticator cannot verify the user: the browser refuses, the page says so.
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    await page.getByRole('button', { name: 'Create a passkey' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('The passkey was not created. Try again, or choose another way.');
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
    await page.getByRole('button', { name: 'Create a passkey' }).click();
    await saveCodes(page, 'passkey');
    const claims = await claimsOf(signedIn);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['email', 'otp', 'hwk', 'user', 'mfa'], MFA_ACR]);
    expect([added.length, await t.sesame.services.db.prisma.passkey.count({ where: { userId: user.id } })]).toEqual([1, 1]);
    expect(problems).toEqual([]);

    // Without JavaScript (in French): no button that cannot work, a sentence saying why, the other ways.
    const noJs = await (await chromium.newContext({ javaScriptEnabled: false, locale: 'fr-FR' })).newPage();
    noJs.setDefaultTimeout(30_000);
    const email2 = nextEmail();
    const authorization = await newAuthorization(config, { redirect_uri: REDIRECT, scope: 'openid email', prompt: 'login' });
    await noJs.goto(authorization.url.href);
    await noJs.locator('input[name="identifier"]').fill(email2);
    await noJs.locator('form[action$="/email"] button[type="submit"]').click();
    await noJs.locator('input[name="code"]').fill(codeFrom(await t.mail.next(email2)));
    await noJs.locator('form[action$="/code"] button[type="submit"]').click();
    await noJs.waitForURL(/\/mfa(\/enrol)?$/);
    const uid = /\/interaction\/([^/]+)\/mfa/.exec(noJs.url())![1]!;
    await noJs.goto(`${t.url}/interaction/${uid}/mfa/enrol/passkey`);
    await noJs.getByRole('heading', { name: 'Créer une clé d’accès', level: 1 }).waitFor();
    expect(await noJs.getByRole('button').allTextContents()).toEqual(['Annuler et revenir']);
    expect(await noJs.getByText('Créer une clé d’accès nécessite JavaScript').isVisible()).toBe(true);
  });
});
