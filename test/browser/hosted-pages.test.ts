// The hosted sign-in pages in a real Chromium (playwright-core driving Debian's chromium): the whole
// authorization code walk with and without JavaScript, a wrong code, French, a phone-sized screen
// and the form markup. SQLite is enough: nothing on these pages depends on the database engine.
import type * as oidc from 'openid-client';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { openAuthorization, useBrowser, type Walk } from '../helpers/browser.js';
import { axeBothSchemes } from '../helpers/accessibility.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, exchangeCode } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';

const COUNTDOWN = /^You can ask for a new code in (\d+) s\.$/;
const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

describe('hosted pages in Chromium', () => {
  let t: TestSesame;
  let config: oidc.Configuration;
  const chromium = useBrowser();

  beforeAll(async () => {
    t = await startTestSesame('sqlite', oidcFixture);
    config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** A fresh browser context at a new authorization request (PKCE S256), collecting console and page errors. */
  async function open(options: BrowserContextOptions = {}): Promise<Walk> {
    const context = await chromium.newContext(options);
    // A step re-rendered with a message is a 400/429 document by design; Chromium logs it as an error.
    const expected = (text: string, url: string) => /status of (400|429)\b/.test(text) && /\/interaction\/[^/]+\/(email|code|resend)$/.test(url);
    return openAuthorization(context, config, { redirect_uri: REDIRECT, scope: 'openid email' }, expected);
  }

  /** Types the email, asks for a code, waits for the code page and returns the code from the mail. */
  async function askForCode(page: Page, email: string, label = 'Email address', button = 'Email me a code', codeLabel = 'Sign-in code') {
    await page.getByLabel(label).fill(email);
    await page.getByRole('button', { name: button }).click();
    await page.getByLabel(codeLabel).waitFor();
    return codeFrom(await t.mail.next(email));
  }

  async function enterCode(page: Page, code: string) {
    await page.getByLabel('Sign-in code').fill(code);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  /**
   * Enters the right code, catches the browser's request to the RP's redirect_uri (nothing serves
   * 127.0.0.1:9, and page.route cannot fulfil a redirected request), checks its parameters and
   * redeems the code like the RP would.
   */
  async function finishAtRp(walk: Walk, code: string, email: string) {
    const atRp = walk.page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    await enterCode(walk.page, code);
    const callback = new URL((await atRp).url());
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    expect(callback.searchParams.get('state')).toBe(walk.state);
    expect(callback.searchParams.get('iss')).toBe(t.issuer);
    const tokens = await exchangeCode(config, walk, callback);
    expect(tokens.claims()).toMatchObject({ iss: t.issuer, aud: 'app', email, email_verified: true });
  }

  /** Every visible input has a visible, non-empty <label for>, and every POST form carries a csrf token. */
  async function checkForms(page: Page) {
    const inputs = await page.locator('input:not([type=hidden])').all();
    expect(inputs.length).toBeGreaterThan(0);
    for (const input of inputs) {
      const id = await input.getAttribute('id');
      expect(id, `input ${await input.getAttribute('name')} has an id`).toBeTruthy();
      const label = page.locator(`label[for="${id}"]`);
      expect(await label.count()).toBe(1);
      expect(await label.isVisible()).toBe(true);
      expect((await label.textContent())?.trim()).not.toBe('');
    }
    const forms = await page.locator('form[method=post]').all();
    expect(forms.length).toBeGreaterThan(0);
    for (const form of forms) {
      const csrf = form.locator('input[type=hidden][name=csrf]');
      expect(await csrf.count(), `csrf field in ${await form.getAttribute('action')}`).toBe(1);
      expect(await csrf.inputValue()).toMatch(/\S{16,}/);
    }
  }

  async function checkFits(page: Page, width: number) {
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
    for (const control of await page.locator('input:not([type=hidden]), button').all()) {
      const box = (await control.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(width);
    }
  }

  it('signs in end to end with JavaScript: resend countdown, no console errors or CSP violations', async () => {
    const walk = await open();
    const { page } = walk;
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    expect(await page.getByText('to continue to Test App').isVisible()).toBe(true);
    const code = await askForCode(page, 'ada@example.com');

    // The countdown script disables the resend button and counts down in the visible hint.
    const resend = page.getByRole('button', { name: 'Send a new code' });
    const hint = page.getByText(COUNTDOWN);
    expect(await resend.isDisabled()).toBe(true);
    expect(await hint.isVisible()).toBe(true);
    const first = Number(COUNTDOWN.exec((await hint.textContent())!)![1]);
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(30);
    await page.waitForFunction((n) => {
      const m = /in (\d+) s\./.exec(document.querySelector('[data-countdown]')?.textContent ?? '');
      return m !== null && Number(m[1]) < n;
    }, first);
    expect(await hint.textContent()).toMatch(COUNTDOWN);
    expect(await resend.isDisabled()).toBe(true);

    await finishAtRp(walk, code, 'ada@example.com');
    expect(walk.problems).toEqual([]);
  });

  it('works end to end with JavaScript disabled (the resend button is then left enabled)', async () => {
    const walk = await open({ javaScriptEnabled: false });
    const { page } = walk;
    const code = await askForCode(page, 'grace@example.com');
    expect(await page.getByRole('button', { name: 'Send a new code' }).isDisabled()).toBe(false);
    expect(await page.getByText(COUNTDOWN).isVisible()).toBe(true);
    await finishAtRp(walk, code, 'grace@example.com');
    expect(walk.problems).toEqual([]);
  });

  it('shows a wrong code as an alert on an aria-invalid field, and "Use another email" starts over', async () => {
    const walk = await open();
    const { page } = walk;
    const code = await askForCode(page, 'linus@example.com');
    await enterCode(page, wrongCode(code));
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/^\s*That code is not right\. .*Tries left: 4\.\s*$/);
    const field = page.getByLabel('Sign-in code');
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await field.getAttribute('aria-describedby')).toBe(await alert.getAttribute('id'));
    expect(await field.inputValue()).toBe('');

    await page.getByRole('button', { name: 'Use another email' }).click();
    await page.getByLabel('Email address').waitFor();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    expect(await page.getByLabel('Sign-in code').count()).toBe(0);
    // The flow goes on with the other address.
    await finishAtRp(walk, await askForCode(page, 'linus@example.org'), 'linus@example.org');
    expect(walk.problems).toEqual([]);
  });

  it('speaks French when the browser asks for fr-FR', async () => {
    const walk = await open({ locale: 'fr-FR', viewport: { width: 360, height: 740 } });
    const { page } = walk;
    expect(await page.locator('html').getAttribute('lang')).toBe('fr');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Connexion');
    expect(await page.title()).toMatch(/^Connexion · /);
    await checkFits(page, 360);
    await askForCode(page, 'marie@example.fr', 'Adresse e-mail', 'Recevoir un code par e-mail', 'Code de connexion');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Consultez vos e\u2011mails');
    expect(await page.getByText(/^Vous pourrez demander un nouveau code dans \d+ s\.$/).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Utiliser une autre adresse' }).isVisible()).toBe(true);
    await checkFits(page, 360);
    expect(walk.problems).toEqual([]);
  });

  it('fits a 360x740 screen, labels every input and puts a csrf field in every POST form', async () => {
    const walk = await open({ viewport: { width: 360, height: 740 } });
    const { page } = walk;
    await checkFits(page, 360);
    await checkForms(page);
    // The email-only variant of the first step (accessibility.test.ts walks the email-or-phone one).
    expect(await axeBothSchemes(page, 'email only')).toEqual([]);
    // A long address (no break opportunities) in the code page's lead must not widen the page.
    const email = 'firstname.middlename.lastname.department@subdomain.example.com';
    const code = await askForCode(page, email);
    await checkFits(page, 360);
    await checkForms(page);
    await enterCode(page, wrongCode(code));
    await page.getByRole('alert').waitFor();
    await checkFits(page, 360);
    await checkForms(page);
    expect(walk.problems).toEqual([]);
  });
});
