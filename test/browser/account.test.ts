// The account page in Chromium with the CDP virtual authenticator (ctap2, internal, resident keys,
// user verification), on both engines: sign in by code, add a passkey, see it listed, rename and
// remove it without JavaScript forms; each change confirmed by email. axe in light and dark mode,
// in English and French. Without JavaScript the "Add a passkey" button stays hidden.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { LOOPBACK_ONLY, useBrowser, watchProblems } from '../helpers/browser.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { ENGINES } from '../helpers/databases.js';
import type { TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { nextNotice, startAccountSesame } from '../account/account-helpers.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';

describe.each(ENGINES)('account page in Chromium on %s', (engine) => {
  let t: TestSesame;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  let n = 0;
  beforeAll(async () => {
    t = await startAccountSesame(engine);
  });
  afterAll(() => t?.stop());

  async function signedIn(context: BrowserContext, email: string, labels = { email: 'Email address', send: 'Email me a code', code: 'Sign-in code', submit: 'Sign in' }) {
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

  it('adds, lists, renames and removes a passkey; axe finds nothing in light and dark', async () => {
    const email = `chromium-account${++n}@example.com`;
    const context = await chromium.newContext();
    const { page, problems } = await signedIn(context, email);
    const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
    const audit: string[] = [...(await axeBothSchemes(page, 'account, no passkey'))];

    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(`${t.issuer}/account?done=passkey_added`);
    await expect.poll(() => page.getByRole('status').first().textContent()).toBe('Your passkey was added.');
    const held = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })) as { credentials: Array<{ rpId: string; isResidentCredential: boolean }> };
    expect(held.credentials.map((c) => [c.rpId, c.isResidentCredential])).toEqual([['localhost', true]]);
    expect(await page.locator('.item-title').allTextContents()).toEqual(['Virtual authenticator']);
    expect(await page.locator('.items .hint').first().textContent()).toMatch(/^Added .* UTC\. Not used yet\. On one device only\.$/);
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'A passkey was added to your Sesame account' });
    audit.push(...(await axeBothSchemes(page, 'account, one passkey')), ...(await brokenHeadings(page)));

    await page.getByLabel('Name of this passkey').fill('My laptop');
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.waitForURL(`${t.issuer}/account?done=passkey_renamed`);
    expect(await page.locator('.item-title').allTextContents()).toEqual(['My laptop']);
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'A passkey of your Sesame account was renamed' });

    await page.getByRole('link', { name: 'Remove this passkey' }).click();
    await page.getByRole('heading', { name: 'Remove this passkey?' }).waitFor();
    audit.push(...(await axeBothSchemes(page, 'remove passkey')));
    await page.getByRole('button', { name: 'Remove passkey' }).click();
    await page.waitForURL(`${t.issuer}/account?done=passkey_removed`);
    expect(await page.locator('.item-title').count()).toBe(0);
    expect(await page.getByText('You have no passkeys yet.').isVisible()).toBe(true);
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'A passkey was removed from your Sesame account' });
    expect(audit).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);

  const FRENCH = { email: 'Adresse e-mail', send: 'Recevoir un code par e-mail', code: 'Code de connexion', submit: 'Se connecter' };

  it('speaks French; axe finds nothing there either', async () => {
    const email = `chromium-account${++n}@example.com`;
    const context = await chromium.newContext({ locale: 'fr-FR' });
    const { page, problems } = await signedIn(context, email, FRENCH);
    await page.getByRole('heading', { name: 'Votre compte' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('fr');
    expect(await page.getByRole('button', { name: 'Ajouter une clé d’accès' }).isVisible()).toBe(true);
    await page.getByLabel('Nom montré aux applications').fill('Ada');
    await page.getByRole('button', { name: 'Enregistrer le nom' }).click();
    await page.waitForURL(`${t.issuer}/account?done=name_changed`);
    expect(await page.getByRole('status').first().textContent()).toBe('Votre nom a été enregistré.');
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'Votre nom Sesame a été modifié' });
    expect([...(await axeBothSchemes(page, 'account fr')), ...(await brokenHeadings(page))]).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);

  it('hides "Add a passkey" without JavaScript; the forms still work', async () => {
    const email = `chromium-account${++n}@example.com`;
    const context = await chromium.newContext({ javaScriptEnabled: false });
    const { page } = await signedIn(context, email);
    expect(await page.getByRole('button', { name: 'Add a passkey' }).isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Sign out other sessions' }).click();
    await page.waitForURL(`${t.issuer}/account?done=sessions_ended`);
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'Your other Sesame sessions were signed out' });
  }, 120_000);
});
