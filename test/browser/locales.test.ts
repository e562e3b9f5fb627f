// The main hosted pages in every language of views/locales, in Chromium on a 360 px wide phone:
// email, code, the magic-link pages (landing, number, invalid link), the MFA challenge, consent, the
// account page, both kinds of error page and the sign-out question. Each must speak its language
// (html lang, no English left), scroll only vertically (long German words, Japanese without spaces)
// and keep headings whole; a full-page screenshot of each is taken (in the temp folder, for a person
// to look at; never committed).
// One Sesame, one Chromium, one sign-in per language reached with ui_locales (and the browser's
// Accept-Language for the pages outside a sign-in). Every locale's words: test/i18n/catalogs.test.ts.
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as oidc from 'openid-client';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_ONLY, newAuthorization, useBrowser } from '../helpers/browser.js';
import { brokenHeadings } from '../helpers/accessibility.js';
import { rpConfig } from '../helpers/login.js';
import { confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { supportedLocales } from '../../src/i18n/i18n.js';
import { localesDir } from '../../src/paths.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';

const PHONE = { width: 360, height: 740 };
const SHOTS = join(tmpdir(), 'sesame-locale-screenshots');
// A third-party client (so consent shows) whose users with a second factor are challenged.
const PARTNER = { ...oidcFixture.clients[1]!, client_id: 'mfa-partner', mfa_policy: 'enrolled', offer_passkeys: false };

const words = (locale: string) => JSON.parse(readFileSync(join(localesDir, `${locale}.json`), 'utf8')) as Record<string, string>;

/** The width of a PNG, from its IHDR chunk. */
const pngWidth = (png: Buffer) => png.readUInt32BE(16);

const ENGLISH = words('en');

/** English sentences (their longest part between placeholders) that `locale` says otherwise: shown on its pages, they were never translated. */
function englishOnly(locale: string): string[] {
  const own = Object.values(words(locale)).join('\n');
  return Object.values(ENGLISH)
    .map((value) => value.split(/\{\w+\}/).reduce((a, b) => (b.trim().length > a.length ? b.trim() : a), ''))
    .filter((part) => part.length >= 15 && part.includes(' ') && !own.includes(part));
}

/** What is wrong with the page as shown: its lang, English left in it, horizontal scrolling (naming what sticks out), cut headings. */
async function layoutProblems(page: Page, locale: string, name: string): Promise<string[]> {
  const problems: string[] = [];
  const lang = await page.locator('html').getAttribute('lang');
  if (lang !== locale) problems.push(`${name}: html lang is ${lang}`);
  const text = await page.locator('body').innerText();
  problems.push(
    ...englishOnly(locale)
      .filter((part) => text.includes(part))
      .map((part) => `${name}: shows English "${part}"`),
  );
  const wide = await page.evaluate(() => {
    const root = document.scrollingElement!;
    if (root.scrollWidth <= root.clientWidth) return null;
    const sticking = Array.from(document.body.querySelectorAll('*'))
      .filter((el) => el.getBoundingClientRect().right > root.clientWidth + 0.5 || el.scrollWidth > el.clientWidth + 1)
      .map((el) => `${el.tagName.toLowerCase()}${el.className ? '.' + String(el.className).replace(/ /g, '.') : ''} "${(el.textContent ?? '').trim().slice(0, 40)}"`);
    return `scrolls sideways (${root.scrollWidth} > ${root.clientWidth}): ${sticking.slice(-3).join('; ')}`;
  });
  if (wide) problems.push(`${name}: ${wide}`);
  problems.push(...(await brokenHeadings(page)).map((line) => `${name}: ${line}`));
  const shot = await page.screenshot({ fullPage: true, path: join(SHOTS, `${locale}-${name.replace(/\W+/g, '-')}.png`) });
  if (pngWidth(shot) !== PHONE.width) problems.push(`${name}: screenshot is ${pngWidth(shot)} px wide`);
  return problems;
}

/** Waits for `locator`; when it never shows, the error says what the page shows instead. */
async function shows(page: Page, locator: Locator, what: string): Promise<void> {
  try {
    await locator.waitFor();
  } catch (err) {
    const seen = await page.locator('h1, [role=alert]').allInnerTexts();
    throw new Error(`${what} never showed; the page at ${page.url()} says: ${seen.join(' | ')}`, { cause: err });
  }
}

describe('every language on a phone', () => {
  let t: TestSesame;
  let partner: oidc.Configuration;
  const chromium = useBrowser([LOOPBACK_ONLY]);

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    t = await startTestSesameOnLocalhost('sqlite', { ...oidcFixture, clients: [...oidcFixture.clients, PARTNER] });
    partner = await rpConfig(t, PARTNER.client_id, PARTNER.client_secret);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('the heading check lets Japanese wrap between any two characters, not a Latin word', async () => {
    const page = await (await chromium.newContext({ viewport: PHONE })).newPage();
    await page.setContent(
      `<html lang="ja"><body><h1 style="width: 6em; font: 24px sans-serif">認証アプリで本人確認をしてください</h1><h2 style="width: 4em; font: 24px sans-serif">Authentifizierungs-App</h2></body></html>`,
    );
    expect(await brokenHeadings(page)).toEqual(['H2 overflows: Authentifizierungs-App', 'H2 breaks inside a word: Authentifizierungs-|App']);
  });

  it('the page check finds sideways scrolling, English left on a German page and a wrong lang', async () => {
    const page = await (await chromium.newContext({ viewport: PHONE })).newPage();
    await page.setContent(`<html lang="en"><body><pre class="wide">${'x'.repeat(80)}</pre><p>${ENGLISH['code.have_code']}</p></body></html>`);
    expect(await layoutProblems(page, 'de', 'check')).toEqual([
      'check: html lang is en',
      `check: shows English "${ENGLISH['code.have_code']}"`,
      expect.stringMatching(/^check: scrolls sideways \(\d+ > 360\): .*pre\.wide "x+"$/),
      expect.stringMatching(/^check: screenshot is \d+ px wide$/),
    ]);
  });

  it('lists every catalog: English, French, German, Spanish, Brazilian Portuguese, Japanese at least', () => {
    expect(supportedLocales).toEqual(expect.arrayContaining(['de', 'en', 'es', 'fr', 'ja', 'pt-BR']));
  });

  describe.each(supportedLocales)('%s', (locale) => {
    const t9n = words(locale);

    it('email, code, magic link, MFA challenge, consent, account, error and sign-out pages', async () => {
      const email = `${locale.toLowerCase()}.langer.name.fuer.tests@example-lange-domain.example`;
      const user = await upsertVerifiedEmailUser(t.sesame.services.db, email);
      const { secret } = await confirmedTotp(t.sesame.services, user.id);
      const context = await chromium.newContext({ locale, viewport: PHONE });
      const page = await context.newPage();
      const { url } = await newAuthorization(partner, { redirect_uri: REDIRECT, scope: 'openid email', ui_locales: locale });
      expect((await page.goto(url.href))?.status()).toBe(200);
      const problems = await layoutProblems(page, locale, 'email');

      await page.locator('input[name="identifier"], input[name="email"]').first().fill(email);
      await page.locator('form[action$="/email"] button[type="submit"]').first().click();
      await page.locator('input[name="code"]').waitFor();
      await page.getByText(t9n['code.other_device']!).click();
      problems.push(...(await layoutProblems(page, locale, 'code')));
      const mail = await t.mail.next(email);

      // The emailed link opened on another device: its landing page, then the number it asks for.
      const other = await (await chromium.newContext({ locale, viewport: PHONE })).newPage();
      const link = linkFrom(mail, '/login/link');
      expect((await other.goto(link))?.status()).toBe(200);
      problems.push(...(await layoutProblems(other, locale, 'link landing')));
      await other.getByRole('button', { name: t9n['magic.submit'], exact: true }).click();
      await other.locator('input[name="number"]').waitFor();
      problems.push(...(await layoutProblems(other, locale, 'link number')));
      expect((await other.goto(link.replace(/token=[^&]+/, 'token=x')))?.status()).toBe(400);
      problems.push(...(await layoutProblems(other, locale, 'link invalid')));

      await page.locator('input[name="code"]').fill(codeFrom(mail));
      await page.getByRole('button', { name: t9n['code.submit'], exact: true }).click();
      await shows(page, page.getByRole('heading', { level: 1, name: t9n['mfa.heading'] }), 'the MFA challenge');
      problems.push(...(await layoutProblems(page, locale, 'mfa challenge')));
      await page.locator('input[name="code"]').fill(totpCode(secret));
      await page.getByRole('button', { name: t9n['mfa.submit'], exact: true }).click();
      await shows(page, page.getByRole('button', { name: t9n['consent.allow'], exact: true }), 'consent');
      problems.push(...(await layoutProblems(page, locale, 'consent')));

      // Signed in now: the account page opens without another sign-in (it reads Accept-Language).
      const account = await context.newPage();
      await account.goto(`${t.issuer}/account`);
      await shows(account, account.getByRole('heading', { level: 1, name: t9n['account.heading'] }), 'the account page');
      problems.push(...(await layoutProblems(account, locale, 'account')));

      expect((await account.goto(`${t.issuer}/interaction/not-a-sign-in`))?.status()).toBe(400);
      problems.push(...(await layoutProblems(account, locale, 'Sesame error')));
      expect((await account.goto(`${t.issuer}/authorize?client_id=nobody&response_type=code&scope=openid&ui_locales=${locale}`))?.status()).toBe(400);
      problems.push(...(await layoutProblems(account, locale, 'oidc-provider error')));
      // Still signed in: signing out asks first.
      expect((await account.goto(`${t.issuer}/oidc/logout?client_id=app&ui_locales=${locale}`))?.status()).toBe(200);
      await shows(account, account.getByRole('button', { name: t9n['logout.yes'], exact: true }), 'the sign-out question');
      problems.push(...(await layoutProblems(account, locale, 'logout')));
      expect(problems).toEqual([]);
    }, 120_000);
  });
});
