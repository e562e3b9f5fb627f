// The console dashboard in Chromium on both engines: an admin signs in with a passkey (the DevTools
// virtual authenticator) and lands on the dashboard; a real sign-in of a user moves this minute's
// sign-in count; axe finds nothing in light and dark mode on both ranges, number tables open; no
// horizontal scroll at 360px; "Sign out" ends the session, and /admin then asks to sign in again.
// Exact numbers and the attacks: test/admin/admin-dashboard.test.ts.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { LOOPBACK_ONLY, useBrowser } from '../helpers/browser.js';
import { ENGINES } from '../helpers/databases.js';
import { rpConfig, signInWithEmail, startLogin } from '../helpers/login.js';
import { oidcFixture } from '../oidc/fixture.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { passkeyPage } from './passkey-admin.js';
import { ADMIN_FIXTURE } from '../admin/admin-helpers.js';

const APP = oidcFixture.clients[0]!;

/** This minute's sign-ins on the page (every column of its row in the sign-ins table), 0 when the row is not there. */
function signInsAt(page: Page, minute: string): Promise<number> {
  return page.evaluate((label) => {
    const row = [...document.querySelectorAll('#sign_ins tbody tr')].find((tr) => tr.querySelector('th')?.textContent === label);
    return row ? [...row.querySelectorAll('td')].reduce((sum, td) => sum + Number(td.textContent), 0) : 0;
  }, minute);
}

const fitsPhone = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
const openTables = (page: Page) => page.locator('details').evaluateAll((all) => all.forEach((d) => ((d as HTMLDetailsElement).open = true)));

describe.each(ENGINES)('admin dashboard in Chromium on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());

  it('lands an admin on the dashboard, counts a real sign-in this minute, passes axe on both ranges, fits a phone, signs out', async () => {
    const { page, authenticator, problems } = await passkeyPage(t, chromium, `chromium-dash-admin-${engine}@example.com`);

    // Nothing typed: the passkey autofill signs the admin in, and /admin lands on the dashboard.
    await page.goto(`${t.issuer}/admin`);
    await page.waitForURL(`${t.issuer}/admin/dashboard`);
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();

    const minuteNow = () => new Date().toISOString().slice(11, 16);
    const before = { minute: minuteNow(), count: 0 };
    before.count = await signInsAt(page, before.minute);
    const started = await startLogin(t, await rpConfig(t, APP.client_id, APP.client_secret));
    const { result } = await signInWithEmail(t, started, `chromium-dash-user-${engine}@example.com`);
    expect(result.status).toBeLessThan(400);
    const minute = minuteNow();
    await page.reload();
    expect(await signInsAt(page, minute)).toBeGreaterThan(minute === before.minute ? before.count : 0);

    await openTables(page);
    const audit = [...(await axeBothSchemes(page, 'dashboard, hour')), ...(await brokenHeadings(page))];
    await page.getByRole('link', { name: 'Last day' }).click();
    await page.waitForURL(`${t.issuer}/admin/dashboard?range=day`);
    await openTables(page);
    audit.push(...(await axeBothSchemes(page, 'dashboard, day')), ...(await brokenHeadings(page)));
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await fitsPhone(page)).toBe(true);
    await page.getByRole('link', { name: 'Last hour' }).click();
    await page.waitForURL(`${t.issuer}/admin/dashboard`);
    await openTables(page);
    expect(await fitsPhone(page)).toBe(true);
    audit.push(...(await axeBothSchemes(page, 'dashboard, hour, phone')), ...(await brokenHeadings(page)));
    expect(audit).toEqual([]);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${t.issuer}/admin/signed-out`);
    await page.getByRole('heading', { name: 'You are signed out', level: 1 }).waitFor();
    expect(await axeBothSchemes(page, 'signed out')).toEqual([]);
    // Without the passkey in the authenticator (its autofill would sign straight back in), the sign-in page stays.
    await authenticator.cdp.send('WebAuthn.clearCredentials', { authenticatorId: authenticator.authenticatorId });
    await page.getByRole('link', { name: 'Sign in again' }).click();
    await page.waitForURL(/\/interaction\/[^/]+$/);
    await page.getByLabel('Email address').waitFor();
    expect(problems).toEqual([]);
  });
});
