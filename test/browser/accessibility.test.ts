// Every page Sesame renders, in a real Chromium, in English and French on a 360 px wide phone:
// axe-core's WCAG 2.1 AA rules in light and dark mode, and headings that wrap only between words.
// One server serves them all: email, SMS and an external connection on, nothing really delivered
// (codes and links come from the dev outbox, which is one of the pages).
//
// The dead end this file also pins down (issue 12): a code was just sent (a double click on "Email
// me a code", or Back and submit again within the 30 s resend wait) and the email step answered
// only "You can ask for another code in 29 s." with the email form, while the code was in the inbox
// and nothing on the page could take it. That page now offers "I already have a code". "Send a new
// code" during the wait was never a dead end: it answers the code page, code field included.
import type * as oidc from 'openid-client';
import { type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAuthorization, useBrowser } from '../helpers/browser.js';
import { axeBothSchemes, axeViolations, brokenHeadings } from '../helpers/accessibility.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import type { Server } from 'node:http';
import { createOperatorLink, linkUrl } from '../../src/passwordless/links.js';
import { waitFor } from '../helpers/wait.js';
import { WORDS, startShop, type OutboxMessage } from './accessibility-fixture.js';

const PHONE = { width: 360, height: 740 };
// Each page is checked four times over (axe in two schemes, headings); on a busy machine a walk takes minutes.
const WALK_TIMEOUT = 300_000;
const NONAME = { client_id: 'noname', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', first_party: true };

describe('accessibility of every page', () => {
  let t: TestSesame;
  const chromium = useBrowser();
  let partner: oidc.Configuration;
  let app: oidc.Configuration;
  let shop: oidc.Configuration;
  let shopSite: { server: Server; origin: string };
  let n = 0;
  const taken = new Set<string>();

  beforeAll(async () => {
    shopSite = await startShop();
    // Two redirect URIs: a request naming neither cannot be answered at the app, so it gets a page.
    const SHOP = {
      client_id: 'shop',
      client_name: 'Shop',
      client_uri: `${shopSite.origin}/home`,
      redirect_uris: [`${shopSite.origin}/cb`, `${shopSite.origin}/other`],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'none',
      first_party: true,
    };
    const config = {
      ...oidcFixture,
      clients: [...oidcFixture.clients, NONAME, SHOP],
      // Nothing really delivered: the dev outbox is on and is where codes and links are read.
      smtpUrl: undefined,
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], defaultCountry: 'US', provider: { type: 'capture' } },
        { id: 'corp', type: 'external', name: 'Corp login', authorizationUrl: 'http://127.0.0.1:9/login', accountId: 'acct1' },
      ],
    };
    t = await startTestSesame('sqlite', config);
    partner = await rpConfig(t, 'partner', oidcFixture.clients[1]!.client_secret);
    app = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    shop = await rpConfig(t, 'shop');
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => shopSite?.server.close(resolve));
  });

  it('the checks find what they look for: low contrast, a heading cut after a hyphen', async () => {
    const context = await chromium.newContext({ viewport: PHONE });
    const page = await context.newPage();
    await page.setContent(
      `<html lang="fr"><head><title>x</title></head><body><main><h1 style="width: 8em; font: 24px sans-serif">Consultez vos e-mails</h1><p style="color: #999; background: #fff">faible</p></main></body></html>`,
    );
    expect((await axeViolations(page)).some((line) => line.startsWith('color-contrast'))).toBe(true);
    expect(await brokenHeadings(page)).toEqual(['H1 breaks inside a word: Consultez vos e-|mails']);
  });

  describe.each(['en', 'fr'] as const)('in %s', (lang) => {
    const words = WORDS[lang];

    async function phone(): Promise<BrowserContext> {
      const context = await chromium.newContext({ locale: lang === 'fr' ? 'fr-FR' : 'en-US', viewport: PHONE });
      return context;
    }

    /** Problems of the page as it is: axe in both schemes, headings, and the language it speaks. */
    async function audit(page: Page, name: string): Promise<string[]> {
      const found = await axeBothSchemes(page, name);
      found.push(...(await brokenHeadings(page)).map((line) => `${name}: ${line}`));
      const htmlLang = await page.locator('html').getAttribute('lang');
      if (htmlLang !== lang) found.push(`${name}: html lang is ${htmlLang}`);
      return found;
    }

    /** The next message to `recipient` in the dev outbox (the page's JSON form), waiting for the worker. */
    async function nextMessage(recipient: string): Promise<OutboxMessage> {
      const found = await waitFor(
        async () => {
          const { messages } = (await (await fetch(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } })).json()) as {
            messages: OutboxMessage[];
          };
          return messages.reverse().find((m) => m.recipient === recipient && !taken.has(m.id));
        },
        { interval: 100, what: `a message to ${recipient} in the outbox` },
      );
      taken.add(found.id);
      return found;
    }
    const codeIn = (m: OutboxMessage) => /\b(\d{6})\b/.exec(`${m.subject ?? ''} ${m.text ?? ''}`)![1]!;
    const linkIn = (m: OutboxMessage) => /https?:\/\/\S+\/login\/link\?\S+/.exec(m.text ?? '')![0];

    /** A page of `context` at a new authorization request of `config`. */
    async function authorize(context: BrowserContext, config: oidc.Configuration, params: Record<string, string> = {}) {
      const page = await context.newPage();
      const { url } = await newAuthorization(config, { redirect_uri: REDIRECT, scope: 'openid email', ...params });
      expect((await page.goto(url.href))?.status()).toBe(200);
      return page;
    }

    /** Types an identifier on the email step and waits for the code step. */
    async function askForCode(page: Page, identifier: string) {
      await page.getByLabel(words.identifier).fill(identifier);
      await page.getByRole('button', { name: words.send }).click();
      await page.getByLabel(words.code).waitFor();
    }

    it(
      'sign-in pages: email (error, external button), code (cooldown, other device, wrong code), "I already have a code", consent',
      async () => {
        const context = await phone();
        const page = await authorize(context, partner);
        const problems = await audit(page, 'email');
        expect(await page.getByRole('button', { name: /Corp login/ }).isVisible()).toBe(true);

        await page.getByLabel(words.identifier).fill('not an address');
        await page.getByRole('button', { name: words.send }).click();
        await page.getByRole('alert').waitFor();
        problems.push(...(await audit(page, 'email, invalid input')));

        // The first click of a double click: its send goes through (same browser cookies, same form).
        const email = `a11y${++n}-${lang}@example.com`;
        const form = page.locator('form[action$="/email"]');
        const [action, csrf] = [await form.getAttribute('action'), await form.locator('input[name=csrf]').inputValue()];
        const first = await context.request.post(`${t.url}${action}`, { form: { csrf, identifier: email }, maxRedirects: 0 });
        expect(first.status()).toBe(303);
        // The second click: the resend wait refuses it, and the page offers the code field.
        await page.getByLabel(words.identifier).fill(email);
        await page.getByRole('button', { name: words.send }).click();
        await page.getByRole('heading', { name: words.haveCode }).waitFor();
        expect(await page.getByLabel(words.code).isVisible()).toBe(true);
        problems.push(...(await audit(page, 'email, code already sent')));
        const code = codeIn(await nextMessage(email));

        // A wrong code from there shows the code step with its message.
        await page.getByLabel(words.code).fill(String((Number(code) + 1) % 1_000_000).padStart(6, '0'));
        await page.getByRole('button', { name: words.signIn, exact: true }).click();
        await page.getByRole('alert').waitFor();
        await page.getByText(words.otherDevice).click();
        problems.push(...(await audit(page, 'code, wrong code, other device open')));

        // "Send a new code" during the wait (no script to disable it): the code page again, with the field.
        await page.locator('form[action$="/resend"]').evaluate((form: HTMLFormElement) => form.submit());
        await page.waitForURL(/\/resend$/);
        expect(await page.getByLabel(words.code).isVisible()).toBe(true);
        problems.push(...(await audit(page, 'code, resend refused during the wait')));

        await page.getByLabel(words.code).fill(code);
        await page.getByRole('button', { name: words.signIn, exact: true }).click();
        await page.getByRole('button', { name: words.allow }).waitFor();
        problems.push(...(await audit(page, 'consent')));
        const atRp = page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
        await page.getByRole('button', { name: words.allow }).click();
        await atRp;

        // Signed in now, so logging out asks first (in a new tab: the first one is off to the RP).
        const logout = await context.newPage();
        expect((await logout.goto(`${t.url}/oidc/logout?client_id=partner`))?.status()).toBe(200);
        problems.push(...(await audit(logout, 'logout')));
        await logout.getByRole('button', { name: words.logoutYes }).click();
        await logout.getByRole('heading', { level: 1, name: words.signedOut }).waitFor();
        expect(problems).toEqual([]);
      },
      WALK_TIMEOUT,
    );

    it(
      'the code page right after sending, by email and by SMS',
      async () => {
        const context = await phone();
        const page = await authorize(context, app);
        const email = `fresh${++n}-${lang}@example.com`;
        await askForCode(page, email);
        const problems = await audit(page, 'code, countdown running');
        await page.getByText(words.otherDevice).click();
        problems.push(...(await audit(page, 'code, other device open')));

        const sms = await authorize(context, app, { scope: 'openid phone' });
        await askForCode(sms, `(650) 253-00${String(++n % 100).padStart(2, '0')}`);
        problems.push(...(await audit(sms, 'code by SMS')));
        expect(problems).toEqual([]);
      },
      WALK_TIMEOUT,
    );

    it(
      'magic-link pages: landing, number, approved, used, expired, confirmed address',
      async () => {
        const laptop = await phone();
        const waiting = await authorize(laptop, app);
        const email = `link${++n}-${lang}@example.com`;
        await askForCode(waiting, email);
        const link = linkIn(await nextMessage(email));
        const number = (await waiting.locator('#match-number').textContent())!.trim();

        const other = await (await phone()).newPage();
        expect((await other.goto(link))?.status()).toBe(200);
        const problems = await audit(other, 'link landing');
        await other.getByRole('button', { name: words.continueLink }).click();
        await other.getByLabel(words.number).waitFor();
        problems.push(...(await audit(other, 'link number')));
        await other.getByLabel(words.number).fill('x');
        await other.getByRole('button', { name: words.approve }).click();
        await other.getByRole('alert').waitFor();
        problems.push(...(await audit(other, 'link number, bad input')));
        await other.getByLabel(words.number).fill(number);
        await other.getByRole('button', { name: words.approve }).click();
        await other.getByLabel(words.number).waitFor({ state: 'detached' });
        problems.push(...(await audit(other, 'link approved')));

        expect((await other.goto(link))?.status()).toBe(400);
        problems.push(...(await audit(other, 'link used')));

        const { db, keyring } = t.sesame.services;
        const expired = await createOperatorLink(db, keyring, { type: 'custom', email, ttl: -60 });
        expect((await other.goto(linkUrl(t.issuer, expired.uuid, expired.token)))?.status()).toBe(400);
        problems.push(...(await audit(other, 'link expired')));

        // A welcome link of a client without client_name: the page names it in plain words.
        const welcome = await createOperatorLink(db, keyring, { type: 'welcome', email: `welcome${n}@example.com`, clientId: 'noname', ttl: 3600 });
        await other.goto(linkUrl(t.issuer, welcome.uuid, welcome.token));
        await other.getByRole('button', { name: words.continueLink }).click();
        await other.getByText(lang === 'fr' ? /vous connecter à l'application\.$/ : /sign in to the application\.$/).waitFor();
        problems.push(...(await audit(other, 'address confirmed')));
        expect(problems).toEqual([]);
      },
      WALK_TIMEOUT,
    );

    it(
      'signed out, error pages, the emailed-link confirm page and the dev outbox',
      async () => {
        const page = await (await phone()).newPage();
        // Without a session there is nothing to confirm: straight to "signed out".
        expect((await page.goto(`${t.url}/oidc/logout?client_id=app`))?.status()).toBe(200);
        const problems = await audit(page, 'logged out');

        expect((await page.goto(`${t.url}/authorize?client_id=nobody&response_type=code&scope=openid`))?.status()).toBe(400);
        problems.push(...(await audit(page, 'oidc-provider error')));
        expect((await page.goto(`${t.url}/interaction/not-a-sign-in`))?.status()).toBe(400);
        problems.push(...(await audit(page, 'Sesame error')));

        const verify = new URLSearchParams({ client_id: 'app', email: 'ada@example.com', verification_code: '123456', redirect_uri: REDIRECT });
        expect((await page.goto(`${t.url}/passwordless/verify_redirect?${verify}`))?.status()).toBe(200);
        problems.push(...(await audit(page, 'emailed link confirm')));

        expect((await page.goto(`${t.url}/dev/outbox`))?.status()).toBe(200);
        problems.push(...(await audit(page, 'dev outbox')));
        expect(problems).toEqual([]);
      },
      WALK_TIMEOUT,
    );

    it(
      'a new account: the name step (invalid name too), then Back from the app: "you are signed in"',
      async () => {
        const page = await authorize(await phone(), shop, { redirect_uri: `${shopSite.origin}/cb`, scope: 'openid email profile' });
        const email = `named${++n}-${lang}@example.com`;
        await askForCode(page, email);
        await page.getByLabel(words.code).fill(codeIn(await nextMessage(email)));
        await page.getByRole('button', { name: words.signIn, exact: true }).click();
        await page.getByRole('heading', { level: 1, name: words.nameHeading }).waitFor();
        const problems = await audit(page, 'name step');

        await page.getByLabel(words.name).fill(' ');
        await page.getByRole('button', { name: words.nameSave, exact: true }).click();
        await page.getByRole('alert').waitFor();
        problems.push(...(await audit(page, 'name step, invalid name')));

        // Opened again by address: Back to a page a POST answered would ask to resend the form instead.
        expect((await page.goto(page.url()))?.status()).toBe(200);
        await page.getByRole('button', { name: words.nameSkip, exact: true }).click();
        await page.waitForURL(`${shopSite.origin}/cb?**`);
        // Back from the app lands on the name step's address, which now says the sign-in is done.
        await page.goBack();
        await page.getByRole('heading', { level: 1, name: words.signedIn }).waitFor();
        expect(await page.getByRole('link', { name: words.continueTo }).getAttribute('href')).toBe(`${shopSite.origin}/home`);
        problems.push(...(await audit(page, 'signed in, after Back')));
        expect(problems).toEqual([]);
      },
      WALK_TIMEOUT,
    );

    it(
      'error pages with "Technical details" open and a way back to the app',
      async () => {
        const context = await phone();
        const problems: string[] = [];
        /** Opens the page's technical details, checks its link back to the shop, audits it. */
        async function withDetailsOpen(page: Page, name: string) {
          await page.getByText(words.details).click();
          await page.locator('details.technical[open] .code').waitFor();
          expect(await page.getByRole('link', { name: words.backTo }).getAttribute('href')).toBe(`${shopSite.origin}/home`);
          problems.push(...(await audit(page, name)));
        }

        // oidc-provider's page: a request of a known app naming neither of its two redirect URIs.
        const page = await context.newPage();
        const { url } = await newAuthorization(shop, { scope: 'openid' });
        url.searchParams.delete('redirect_uri');
        expect((await page.goto(url.href))?.status()).toBe(400);
        await withDetailsOpen(page, 'bad request, details open');

        // Sesame's page: a sign-in page that expired (its interaction gone, this browser's cookie left).
        const signIn = await authorize(context, shop, { redirect_uri: `${shopSite.origin}/cb` });
        const uid = new URL(signIn.url()).pathname.split('/')[2]!;
        const { count } = await t.sesame.services.db.prisma.oidcPayload.updateMany({
          where: { model: 'Interaction', id: uid },
          data: { expiresAt: new Date(Date.now() - 1000) },
        });
        expect(count).toBe(1);
        expect((await signIn.reload())?.status()).toBe(400);
        await withDetailsOpen(signIn, 'expired sign-in page, details open');
        expect(problems).toEqual([]);
      },
      WALK_TIMEOUT,
    );
  });
});
