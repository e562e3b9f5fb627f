// The admin console in Chromium on both engines: an admin granted by the CLI signs in with a passkey
// (the DevTools virtual authenticator, autofill with nothing typed), sees two held sign-ins in the
// review queue, approves one (it reaches the app) and denies the other (refused); an admin with only
// a code is sent to add a second factor; a signed-in user who is not an admin gets the 403 page.
// axe in light and dark mode on each console page, in English and French; headings wrap between words. Without JavaScript and the attacks: test/admin/admin-console.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAdmin, upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { LOOPBACK_ONLY, useBrowser } from '../helpers/browser.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { passkeyPage } from './passkey-admin.js';
import { ADMIN_FIXTURE, adminByCli, heldSignIn } from '../admin/admin-helpers.js';

describe.each(ENGINES)('admin console in Chromium on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let n = 0;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());

  /** A page whose virtual authenticator holds a passkey of a new user with `email`, not an admin yet (the test grants it with the CLI). */
  const pageWithPasskey = (email: string, locale = 'en-US') => passkeyPage(t, chromium, email, { admin: false, context: { locale } });

  it('signs an admin in with a passkey; approves one held sign-in and denies another; axe finds nothing', async () => {
    const email = `chromium-admin${++n}-${engine}@example.com`;
    const { user, page, problems } = await pageWithPasskey(email);
    expect(await adminByCli(t, email)).toEqual({ userId: user.id, admin: true });
    const approved = await heldSignIn(t, `chromium-held${++n}-${engine}@example.com`);
    const denied = await heldSignIn(t, `chromium-held${++n}-${engine}@example.com`);

    // Nothing typed: the email page's passkey autofill signs the admin in.
    await page.goto(`${t.issuer}/admin/reviews`);
    await page.waitForURL(`${t.issuer}/admin/reviews`);
    await page.getByRole('heading', { name: 'Review queue', level: 1 }).waitFor();
    const audit = [...(await axeBothSchemes(page, 'review queue')), ...(await brokenHeadings(page))];
    await page.setViewportSize({ width: 360, height: 740 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

    const item = (id: string) => page.locator('li', { has: page.locator(`input[name="id"][value="${id}"]`) });
    await item(approved.row.id).getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(`${t.issuer}/admin/reviews?done=approved`);
    expect(await page.getByRole('status').textContent()).toBe('Approved. The held sign-in goes on.');
    audit.push(...(await axeBothSchemes(page, 'review queue, approved')));
    await item(denied.row.id).getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL(`${t.issuer}/admin/reviews?done=denied`);
    expect(await page.getByRole('status').textContent()).toBe('Denied. The held sign-in is refused.');
    expect(await page.getByText('Nothing is waiting for a review.').isVisible()).toBe(true);
    audit.push(...(await axeBothSchemes(page, 'review queue, empty')));

    expect((await approved.check()).location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    expect((await denied.check()).status).toBe(403);
    expect(audit).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('speaks French on a phone; axe finds nothing there either', async () => {
    const email = `chromium-admin${++n}-${engine}@example.com`;
    const { user, page, problems } = await pageWithPasskey(email, 'fr-FR');
    await setAdmin(t.sesame.services.db, user.id, true);
    await heldSignIn(t, `chromium-held${++n}-${engine}@example.com`);
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(`${t.issuer}/admin/reviews`);
    await page.getByRole('heading', { name: 'File de vérification', level: 1 }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('fr');
    expect(await page.getByRole('navigation', { name: 'Console d’administration' }).getByRole('link', { name: 'File de vérification' }).getAttribute('aria-current')).toBe('page');
    expect(await page.getByRole('button', { name: 'Approuver' }).first().isVisible()).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect([...(await axeBothSchemes(page, 'review queue fr')), ...(await brokenHeadings(page))]).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('sends an admin who signs in with only a code to add a second factor first', async () => {
    const email = `chromium-admin${++n}-${engine}@example.com`;
    const user = await upsertVerifiedEmailUser(t.sesame.services.db, email);
    await setAdmin(t.sesame.services.db, user.id, true);
    const page = await (await chromium.newContext({ locale: 'en-US' })).newPage();
    await page.goto(`${t.issuer}/admin`);
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByLabel('Sign-in code').fill(codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/interaction\/[^/]+\/mfa\/enrol$/);
    await page.getByRole('heading', { name: 'Add a second way to sign in', level: 1 }).waitFor();
    expect(await page.getByRole('heading', { name: 'Review queue' }).count()).toBe(0);
  });

  it('shows a signed-in user who is not an admin the 403 page; axe finds nothing', async () => {
    const { page } = await pageWithPasskey(`chromium-user${++n}-${engine}@example.com`);
    const answer = page.waitForResponse((r) => r.url() === `${t.issuer}/admin` && r.status() === 403);
    await page.goto(`${t.issuer}/admin`);
    await answer;
    await page.getByText('Only admins may use the admin console. Ask an operator to grant you the role.').waitFor();
    expect([...(await axeBothSchemes(page, 'not an admin')), ...(await brokenHeadings(page))]).toEqual([]);
  });
});
