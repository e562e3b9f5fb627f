// The console's client pages in Chromium on both engines: an admin signs in with a passkey (the
// DevTools virtual authenticator), creates a client (a bad redirect URI first: the field is marked),
// copies its secret, edits it, rotates the secret (the old one is refused at /oauth/token while the
// new one gets a token) and deletes it after the confirm page. axe in light and dark mode on each page,
// and no horizontal scroll at 360px. Without JavaScript and the attacks: test/admin/admin-clients.test.ts.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { LOOPBACK_ONLY, useBrowser } from '../helpers/browser.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { passkeyPage } from './passkey-admin.js';
import { ADMIN_FIXTURE } from '../admin/admin-helpers.js';

describe.each(ENGINES)('admin console clients in Chromium on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());

  /** A page whose virtual authenticator holds a passkey of a new admin, made by the real registration ceremony. */
  // The refused form answers 400 on purpose; anything else logged is a problem.
  const adminPage = (email: string) => passkeyPage(t, chromium, email, { expected: (text, url) => url.endsWith('/admin/clients/new') && text.includes('status of 400') });

  /** axe in both schemes, headings, then the same page 360px wide without a horizontal scroll. */
  async function check(page: Page, name: string): Promise<string[]> {
    await page.setViewportSize({ width: 1280, height: 800 });
    const found = [...(await axeBothSchemes(page, name)), ...(await brokenHeadings(page))];
    await page.setViewportSize({ width: 360, height: 740 });
    if (!(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))) found.push(`${name}: scrolls sideways at 360px`);
    return found;
  }

  const token = (id: string, secret: string) =>
    fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });

  it('creates, edits, rotates the secret of and deletes a client; axe finds nothing, nothing scrolls sideways', async () => {
    const { page, problems } = await adminPage(`chromium-clients-${engine}@example.com`);
    const id = `chromium-app-with-a-rather-long-client-identifier-${engine}`;
    await page.goto(`${t.issuer}/admin/clients`);
    await page.waitForURL(`${t.issuer}/admin/clients`);
    await page.getByRole('heading', { name: 'Clients', level: 1 }).waitFor();
    const audit = await check(page, 'client list');

    await page.getByRole('link', { name: 'Add a client' }).click();
    await page.getByRole('heading', { name: 'New client', level: 1 }).waitFor();
    audit.push(...(await check(page, 'new client')));
    await page.getByLabel('Client ID').fill(id);
    await page.getByLabel('Name').fill('Chromium app');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('not a url');
    await page.getByLabel('Machine to machine (client credentials)').check();
    await page.getByRole('button', { name: 'Create client' }).click();
    await page.getByText('Enter valid redirect URIs, one per line.').waitFor();
    expect(await page.getByLabel('Redirect URIs', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    audit.push(...(await check(page, 'new client, refused')));

    await page.getByLabel('Redirect URIs', { exact: true }).fill('http://127.0.0.1:9/cb\nhttp://127.0.0.1:9/other');
    await page.getByRole('button', { name: 'Create client' }).click();
    await page.getByRole('heading', { name: 'Copy the secret now', level: 1 }).waitFor();
    const first = (await page.locator('#client-secret').textContent())!;
    expect(first).toMatch(/^[\w-]{43}$/);
    audit.push(...(await check(page, 'secret, created')));
    expect((await token(id, first)).status).toBe(200);

    await page.getByRole('link', { name: 'Back to the client' }).click();
    await page.getByLabel('Name').fill('Chromium app, renamed');
    await page.getByLabel('Brand colour').fill('#2454d6');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(`${t.issuer}/admin/clients/${id}?done=saved`);
    expect(await page.getByRole('status').textContent()).toBe('Changes saved.');
    await page.getByRole('heading', { name: 'Chromium app, renamed', level: 1 }).waitFor();
    expect(await page.content()).not.toContain(first);
    audit.push(...(await check(page, 'client, saved')));

    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByText(`The new secret of ${id} is shown on this page only. The old one no longer works.`).waitFor();
    const second = (await page.locator('#client-secret').textContent())!;
    expect(second).toMatch(/^[\w-]{43}$/);
    expect(second).not.toBe(first);
    audit.push(...(await check(page, 'secret, rotated')));
    const old = await token(id, first);
    expect([old.status, await old.json()]).toEqual([401, { error: 'invalid_client', error_description: 'client authentication failed' }]);
    const fresh = await token(id, second);
    expect([fresh.status, (await fresh.json()).token_type]).toEqual([200, 'Bearer']);

    await page.getByRole('link', { name: 'Back to the client' }).click();
    await page.getByRole('link', { name: 'Delete this client…' }).click();
    await page.getByRole('heading', { name: 'Delete this client?', level: 1 }).waitFor();
    audit.push(...(await check(page, 'delete, confirm')));
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.waitForURL(`${t.issuer}/admin/clients?done=removed`);
    expect(await page.getByRole('status').textContent()).toBe('Client deleted, with its grants and tokens.');
    expect(await page.getByText(id).count()).toBe(0);
    audit.push(...(await check(page, 'client list, removed')));
    expect((await token(id, second)).status).toBe(401);

    expect(audit).toEqual([]);
    expect(problems).toEqual([]);
  });
});
