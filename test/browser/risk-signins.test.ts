// The risk stop's pages in Chromium: "your sign-in is being reviewed" in French (axe clean in light
// and dark mode), "check again" going on to the app once approved; "this sign-in was blocked" (axe
// clean), its link answering access_denied to the app. The address comes from X-Forwarded-For
// behind one trusted proxy. Without JavaScript and the attacks: test/hosted/risk-signins.test.ts.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_ONLY, newAuthorization, useBrowser, watchProblems } from '../helpers/browser.js';
import { axeViolations } from '../helpers/accessibility.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { settleReview } from '../../src/passwordless/action-results.js';
import { findDecisionByInteraction } from '../../src/storage/action-decisions.js';

const APP = oidcFixture.clients[0]!;
const GATE_APP = { ...APP, client_id: 'gate-app', client_name: 'Gate App', risk_action: 'gate', offer_passkeys: false };
const GATE = {
  rules: [
    { ruleId: 'bad-ip', name: 'Known bad address', type: 'BLOCK', conditions: { '==': [{ var: 'ip.address' }, '203.0.113.66'] } },
    { ruleId: 'odd-ip', name: 'Odd address', type: 'REVIEW', conditions: { '==': [{ var: 'ip.address' }, '203.0.113.77'] } },
  ],
};

describe('risk stop pages in Chromium', { timeout: 120_000 }, () => {
  let t: TestSesame;
  let n = 0;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost('sqlite', { ...oidcFixture, clients: [...oidcFixture.clients, GATE_APP], trustProxy: 1, actions: { policies: { gate: GATE } } });
  });
  afterAll(() => t?.stop());

  /** An email code sign-in from `ip` up to the page after the code; the RP request it ends with, if any. */
  async function signIn(ip: string, params: Record<string, string> = {}) {
    const context = await chromium.newContext({ extraHTTPHeaders: { 'x-forwarded-for': ip } });
    const page = await context.newPage();
    const authorization = await newAuthorization(await rpConfig(t, 'gate-app', APP.client_secret), { redirect_uri: REDIRECT, scope: 'openid email', prompt: 'login', ...params });
    expect((await page.goto(authorization.url.href))?.status()).toBe(200);
    const email = `chromium-risk${++n}@example.com`;
    await page.locator('form[action$="/email"] input[type="email"], form[action$="/email"] input[name="email"]').first().fill(email);
    await page.locator('form[action$="/email"] button[type="submit"]').click();
    await page.locator('input[name="code"]').fill(codeFrom(await t.mail.next(email)));
    await page.locator('form[action$="/code"] button[type="submit"]').click();
    return { page, authorization };
  }

  async function atRp(page: Page, click: () => Promise<void>) {
    const request = page.waitForRequest((r) => r.url().startsWith(`${REDIRECT}?`));
    await click();
    return new URL((await request).url());
  }

  async function axeBothModes(page: Page) {
    expect(await axeViolations(page)).toEqual([]);
    await page.emulateMedia({ colorScheme: 'dark' });
    expect(await axeViolations(page)).toEqual([]);
    await page.emulateMedia({ colorScheme: 'light' });
  }

  it('shows the review page in French, then goes on to the app once approved', async () => {
    const { page, authorization } = await signIn('203.0.113.77', { ui_locales: 'fr' });
    const problems = watchProblems(page);
    await page.getByRole('heading', { name: 'Votre connexion est en cours de vérification', level: 1 }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('fr');
    await axeBothModes(page);
    const uid = /\/interaction\/([^/]+)\/review$/.exec(page.url())![1]!;
    const row = (await findDecisionByInteraction(t.sesame.services.db, uid))!;
    expect(await settleReview(t.sesame.services.db, row, true, 'operator')).toBe(true);
    const rp = await atRp(page, () => page.getByRole('link', { name: 'Vérifier à nouveau' }).click());
    expect([rp.searchParams.get('state'), rp.searchParams.has('code')]).toEqual([authorization.state, true]);
    expect(problems).toEqual([]);
  });

  it('shows the blocked page, whose link answers access_denied to the app', async () => {
    const { page, authorization } = await signIn('203.0.113.66');
    await page.getByRole('heading', { name: 'This sign-in was blocked', level: 1 }).waitFor();
    await axeBothModes(page);
    const rp = await atRp(page, () => page.getByRole('link', { name: 'Return to Gate App' }).click());
    expect([rp.searchParams.get('error'), rp.searchParams.get('state'), rp.searchParams.has('code')]).toEqual(['access_denied', authorization.state, false]);
  });
});
