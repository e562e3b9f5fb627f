// The hosted second-factor page in Chromium (issue 15 items 3 and 7): an authenticator app code typed
// on the page (computed by otpauth from the enrolled secret), a passkey as the second factor through
// the page's script (mfa-passkey.js) and a CDP virtual authenticator, the page without JavaScript
// for a passkey, axe in light and dark mode, English and French. Without JavaScript, every factor
// and the attacks: test/hosted/mfa-challenge.test.ts.
import * as oidc from 'openid-client';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_ONLY, newAuthorization, useBrowser, watchProblems } from '../helpers/browser.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';
import { MFA_ACR } from '../../src/oidc/acr.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';

const APP = oidcFixture.clients[0]!;
// Users of `mfa-app` who have a second factor are challenged; `app` (policy never) offers passkeys
// after a code sign-in, which is how the passkey test's user gets one.
const MFA_APP = { ...APP, client_id: 'mfa-app', client_name: 'MFA App', mfa_policy: 'enrolled', offer_passkeys: false };

// Several code sign-ins per test in Chromium: slow on a loaded machine.
describe('hosted MFA challenge in Chromium', { timeout: 120_000 }, () => {
  let t: TestSesame;
  let mfaApp: oidc.Configuration;
  let n = 0;
  const chromium = useBrowser([LOOPBACK_ONLY]);

  beforeAll(async () => {
    t = await startTestSesameOnLocalhost('sqlite', { ...oidcFixture, clients: [...oidcFixture.clients, MFA_APP], codes: { resendCooldown: 1 }, mfa: { rememberBrowserDays: 7 } });
    mfaApp = await rpConfig(t, 'mfa-app', APP.client_secret);
  });
  afterAll(async () => {
    await t?.stop();
  });

  const s = () => t.sesame.services;
  const nextEmail = () => `chromium-mfa${++n}@example.com`;

  /** A code sign-in (prompt=login) up to the click on "Sign in"; the promise of the browser's request to the RP. */
  async function signIn(page: Page, config: oidc.Configuration, email: string, signInLabel = 'Sign in') {
    const authorization = await newAuthorization(config, { redirect_uri: REDIRECT, scope: 'openid email', prompt: 'login' });
    expect((await page.goto(authorization.url.href))?.status()).toBe(200);
    await page.locator('input[name="identifier"], input[name="email"]').first().fill(email);
    await page.locator('form[action$="/email"] button[type="submit"]').first().click();
    await page.locator('input[name="code"]').fill(codeFrom(await t.mail.next(email)));
    const atRp = page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    atRp.catch(() => undefined);
    await page.getByRole('button', { name: signInLabel, exact: true }).click();
    return { authorization, atRp, config };
  }

  async function claimsOf(signedIn: Awaited<ReturnType<typeof signIn>>) {
    const { authorization, atRp, config } = signedIn;
    const tokens = await oidc.authorizationCodeGrant(config, new URL((await atRp).url()), {
      pkceCodeVerifier: authorization.verifier,
      expectedState: authorization.state,
      expectedNonce: authorization.nonce,
    });
    return tokens.claims()!;
  }

  /** A user with an authenticator app confirmed two minutes ago (every current code unused) and recovery codes. */
  async function totpUser(email = nextEmail()) {
    const user = await upsertVerifiedEmailUser(s().db, email);
    const { secret } = await confirmedTotp(s(), user.id);
    await generateRecoveryCodes(s(), user.id);
    return { user, email, secret };
  }

  // A wrong code or passkey answers 400 with the page again: the console's note of it is expected.
  const refusedCode = (text: string, url: string) => text.includes('status of 400') && /\/mfa(\/passkey)?$/.test(url);

  async function newPage(context: BrowserContext) {
    const page = await context.newPage();
    return { page, problems: watchProblems(page, refusedCode) };
  }

  it('takes the authenticator app code typed on the page, and passes axe (English and French)', async () => {
    const u = await totpUser();
    const { page, problems } = await newPage(await chromium.newContext());
    const signedIn = await signIn(page, mfaApp, u.email);
    await page.getByRole('heading', { name: 'Confirm it is you', level: 1 }).waitFor();
    const input = page.getByLabel('Code from your authenticator app');
    expect(await input.evaluate((el) => [el === document.activeElement, el.getAttribute('autocomplete'), el.getAttribute('inputmode')])).toEqual([
      true,
      'one-time-code',
      'numeric',
    ]);
    expect(await page.getByRole('link').allTextContents()).toEqual(['Use a recovery code']);
    expect(await axeBothSchemes(page, 'mfa-challenge')).toEqual([]);
    expect(await brokenHeadings(page)).toEqual([]);
    // A wrong code: the page again with the error, the field marked and still focused.
    await input.fill('000000');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('That code is not right. Enter the code your authenticator app shows now.');
    expect(await page.getByLabel('Code from your authenticator app').evaluate((el) => [el === document.activeElement, el.getAttribute('aria-invalid')])).toEqual([true, 'true']);
    expect(await axeBothSchemes(page, 'mfa-challenge wrong')).toEqual([]);
    await page.getByLabel('Code from your authenticator app').fill(totpCode(u.secret));
    await page.getByLabel('Remember this browser for 7 days').check();
    await page.getByRole('button', { name: 'Continue' }).click();
    const claims = await claimsOf(signedIn);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([u.user.id, ['email', 'otp', 'mfa'], MFA_ACR]);
    expect(problems).toEqual([]);

    const fr = await newPage(await chromium.newContext({ locale: 'fr-FR' }));
    await signIn(fr.page, mfaApp, u.email, 'Se connecter');
    await fr.page.getByRole('heading', { name: 'Confirmez votre identité', level: 1 }).waitFor();
    await fr.page.getByRole('link', { name: 'Utiliser un code de récupération' }).click();
    await fr.page.getByLabel('Code de récupération').waitFor();
    expect(await axeBothSchemes(fr.page, 'mfa-challenge fr recovery')).toEqual([]);
    expect(await brokenHeadings(fr.page)).toEqual([]);
    expect(fr.problems).toEqual([]);
  });

  it("takes the user's passkey as the second factor after an email code (amr: code, passkey, mfa), not someone else's", async () => {
    const email = nextEmail();
    const context = await chromium.newContext();
    const { page, problems } = await newPage(context);
    const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
    // A first sign-in at `app` (no MFA) offers a passkey: created in the virtual authenticator.
    const app = await rpConfig(t, 'app', APP.client_secret);
    const first = await signIn(page, app, email);
    await page.getByRole('button', { name: 'Create a passkey' }).click();
    expect((await claimsOf(first)).amr).toEqual(['email', 'otp']);
    const user = await s().db.prisma.user.findUniqueOrThrow({ where: { email } });
    const passkey = await waitFor(() => s().db.prisma.passkey.findFirst({ where: { userId: user.id } }));
    // Someone else, with a passkey of their own in a browser of their own.
    const mallory = await newPage(await chromium.newContext());
    const theirs = await addVirtualAuthenticator(mallory.page.context(), mallory.page);
    const malloryEmail = nextEmail();
    const malloryIn = await signIn(mallory.page, app, malloryEmail);
    await mallory.page.getByRole('button', { name: 'Create a passkey' }).click();
    await claimsOf(malloryIn);

    // At `mfa-app` the passkey is the user's second factor (their only one), after the email code.
    // The new tab gets the passkey only at the MFA page: on the email page, autofill would sign in with it.
    const second = await newPage(context);
    const signedIn = await signIn(second.page, mfaApp, email);
    await second.page.getByRole('heading', { name: 'Confirm it is you', level: 1 }).waitFor();
    const vauth = await addVirtualAuthenticator(context, second.page);
    // Their passkey is a passkey of this site, but not this user's: refused like a failed one.
    const malloryKey = (await theirs.cdp.send('WebAuthn.getCredentials', { authenticatorId: theirs.authenticatorId })).credentials[0]!;
    await vauth.cdp.send('WebAuthn.addCredential', { authenticatorId: vauth.authenticatorId, credential: malloryKey });
    await second.page.getByRole('button', { name: 'Use your passkey' }).click();
    await expect(second.page.getByRole('alert').textContent()).resolves.toBe('Your passkey could not be verified. Try again, or use another method.');
    await vauth.cdp.send('WebAuthn.removeCredential', { authenticatorId: vauth.authenticatorId, credentialId: malloryKey.credentialId });
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    await vauth.cdp.send('WebAuthn.addCredential', { authenticatorId: vauth.authenticatorId, credential: credentials[0]! });
    await second.page.getByText('Use your passkey to confirm this sign-in.').waitFor();
    expect(await second.page.getByText('A passkey needs JavaScript').isVisible()).toBe(false);
    expect(await axeBothSchemes(second.page, 'mfa-challenge passkey')).toEqual([]);
    await second.page.getByRole('button', { name: 'Use your passkey' }).click();
    const claims = await claimsOf(signedIn);
    expect([claims.sub, claims.acr]).toEqual([user.id, MFA_ACR]);
    expect(claims.amr).toEqual(['email', 'otp', passkey.backedUp ? 'swk' : 'hwk', 'user', 'mfa']);
    expect([...problems, ...second.problems, ...mallory.problems]).toEqual([]);
  });

  it('without JavaScript, the passkey factor says to use another method', async () => {
    const u = await totpUser();
    const context = await chromium.newContext({ javaScriptEnabled: false });
    const { page } = await newPage(context);
    // The user also has a passkey (of no authenticator here): the page offers it as another method.
    await s().db.prisma.passkey.create({
      data: {
        id: `pk-${u.user.id}`,
        userId: u.user.id,
        publicKey: 'AA',
        counter: 0n,
        transports: 'internal',
        backedUp: false,
        deviceType: 'singleDevice',
        aaguid: '00000000-0000-0000-0000-000000000000',
      },
    });
    await signIn(page, mfaApp, u.email);
    await page.getByRole('link', { name: 'Use a passkey' }).click();
    await page.getByText('A passkey needs JavaScript and a browser that supports passkeys. Use another method below.').waitFor();
    expect(await page.getByRole('button', { name: 'Use your passkey' }).isVisible()).toBe(false);
    expect(await page.getByRole('link').allTextContents()).toEqual(['Use your authenticator app', 'Use a recovery code']);
  });
});
