// Two-step verification on the account page in Chromium, on both engines: add an authenticator app
// with the key read off the page and a code computed from it, as a person with an app would; the
// recovery codes shown once; the section listing both; the removal. axe in light and dark mode on
// every page of it, in English and French.
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { LOOPBACK_ONLY, useBrowser, watchProblems } from '../helpers/browser.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { ENGINES } from '../helpers/databases.js';
import type { TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { nextNotice, startAccountSesame } from '../account/account-helpers.js';

const ENGLISH = {
  email: 'Email address',
  send: 'Email me a code',
  code: 'Sign-in code',
  submit: 'Sign in',
  add: 'Add an authenticator app',
  appCode: '6-digit code from the app',
  confirm: 'Confirm',
  back: 'I saved them, back to my account',
  remove: 'Remove: Authenticator app',
  removeButton: 'Remove',
  qr: 'QR code for your authenticator app',
};
const FRENCH = {
  email: 'Adresse e-mail',
  send: 'Recevoir un code par e-mail',
  code: 'Code de connexion',
  submit: 'Se connecter',
  add: 'Ajouter une application d’authentification',
  appCode: 'Code à 6 chiffres de l’application',
  confirm: 'Confirmer',
  back: 'Je les ai conservés, retour à mon compte',
  remove: 'Supprimer : Application d’authentification',
  removeButton: 'Supprimer',
  qr: 'Code QR pour votre application d’authentification',
};

describe.each(ENGINES)('two-step verification on the account page in Chromium on %s', (engine) => {
  let t: TestSesame;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  let n = 0;
  beforeAll(async () => {
    t = await startAccountSesame(engine);
  });
  afterAll(() => t?.stop());

  async function signedIn(context: BrowserContext, email: string, labels: typeof ENGLISH) {
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${t.issuer}/account`);
    await page.getByLabel(labels.email).fill(email);
    await page.getByRole('button', { name: labels.send }).click();
    await page.getByLabel(labels.code).fill(codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: labels.submit, exact: true }).click();
    await page.waitForURL(`${t.issuer}/account`);
    return { page, problems };
  }

  for (const [language, labels, locale] of [
    ['English', ENGLISH, 'en-US'],
    ['French', FRENCH, 'fr-FR'],
  ] as const) {
    it(`adds an authenticator app from the shown key, shows recovery codes once, removes it; axe finds nothing (${language})`, async () => {
      const email = `chromium-mfa${++n}@example.com`;
      const context = await chromium.newContext({ locale });
      const { page, problems } = await signedIn(context, email, labels);
      const audit: string[] = [];

      await page.getByRole('button', { name: labels.add }).click();
      await page.getByRole('img', { name: labels.qr, exact: true }).waitFor();
      audit.push(...(await axeBothSchemes(page, `enrolment ${language}`)), ...(await brokenHeadings(page)));
      const key = (await page.locator('#totp-secret').textContent())!.replace(/\s/g, '');
      await page.getByLabel(labels.appCode).fill(new TOTP({ secret: Secret.fromBase32(key) }).generate());
      await page.getByRole('button', { name: labels.confirm }).click();
      await page.locator('.recovery-codes').waitFor();
      expect(await page.locator('.recovery-codes li').allTextContents()).toHaveLength(10);
      audit.push(...(await axeBothSchemes(page, `recovery codes ${language}`)), ...(await brokenHeadings(page)));
      expect(await nextNotice(t, email)).toMatchObject({ subject: expect.stringContaining('Sesame') });

      await page.getByRole('link', { name: labels.back }).click();
      await page.waitForURL(`${t.issuer}/account`);
      expect(await page.locator('#mfa-heading ~ ul .item-title').allTextContents()).toEqual(
        language === 'English' ? ['Authenticator app', 'Recovery codes'] : ['Application d’authentification', 'Codes de secours'],
      );
      audit.push(...(await axeBothSchemes(page, `account with factors ${language}`)), ...(await brokenHeadings(page)));

      await page.getByRole('link', { name: labels.remove }).click();
      await page.getByRole('button', { name: labels.removeButton, exact: true }).waitFor();
      audit.push(...(await axeBothSchemes(page, `remove factor ${language}`)));
      await page.getByRole('button', { name: labels.removeButton, exact: true }).click();
      await page.waitForURL(`${t.issuer}/account?done=mfa_removed`);
      expect(await page.locator('#mfa-heading ~ ul .item-title').allTextContents()).toEqual(language === 'English' ? ['Recovery codes'] : ['Codes de secours']);
      expect(audit).toEqual([]);
      expect(problems).toEqual([]);
    }, 180_000);
  }
});
