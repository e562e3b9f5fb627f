// The support case "the mails stopped", in Chromium on both engines: the SMTP server is down, a
// user's code email is tried twice and given up; the admin (signed in with a passkey: no mail needed)
// finds it under Failed deliveries, the SMTP server comes back, the admin clicks Retry, the email
// arrives exactly once and its code signs the user in. Then the admin rotates the signing keys from
// the console. axe in light and dark mode on each page state, and no sideways scrolling at 360 px.
// Without JavaScript and the attacks: test/admin/admin-outbox-keys.test.ts.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { LOOPBACK_ONLY, openAuthorization, useBrowser } from '../helpers/browser.js';
import { ENGINES } from '../helpers/databases.js';
import { rpConfig, exchangeCode } from '../helpers/login.js';
import { freePort } from '../helpers/net.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { passkeyPage } from './passkey-admin.js';
import { ADMIN_FIXTURE } from '../admin/admin-helpers.js';

describe.each(ENGINES)('console outbox and keys in Chromium on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let sink: MailSink | undefined;
  let smtpPort: number;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    // Nothing listens here until the test "fixes" the SMTP server; two quick attempts, then given up.
    smtpPort = await freePort();
    t = await startTestSesameOnLocalhost(engine, { ...ADMIN_FIXTURE, smtpUrl: `smtp://127.0.0.1:${smtpPort}`, delivery: { pollInterval: 200, maxAttempts: 2, retryDelay: 1 } });
  });
  afterAll(async () => {
    await t?.stop();
    await sink?.close();
  });

  /** A page whose virtual authenticator holds a passkey of a new admin, made by the real registration ceremony. */
  const adminPage = (email: string) => passkeyPage(t, chromium, email);

  /** axe in both schemes, headings, and nothing wider than a 360 px phone. */
  async function checkPage(page: Page, name: string): Promise<string[]> {
    const found = [...(await axeBothSchemes(page, name)), ...(await brokenHeadings(page))];
    await page.setViewportSize({ width: 360, height: 740 });
    if (!(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))) found.push(`${name}: wider than 360 px`);
    await page.setViewportSize({ width: 1280, height: 800 });
    return found;
  }

  it('retries a code email given up while SMTP was down: it arrives once and signs the user in; then rotates the keys', async () => {
    const email = `stranded-${engine}@example.com`;
    const config = await rpConfig(t, 'gate-app', oidcFixture.clients[0]!.client_secret);
    const user = await openAuthorization(await chromium.newContext({ locale: 'en-US' }), config, { redirect_uri: REDIRECT, scope: 'openid email' });
    await user.page.getByLabel('Email address').fill(email);
    await user.page.getByRole('button', { name: 'Email me a code' }).click();
    await user.page.getByLabel('Sign-in code').waitFor();
    const stuck = await waitFor(() => t.sesame.services.db.prisma.outboxMessage.findFirst({ where: { recipient: email, status: 'failed' } }), {
      what: 'the code email to be given up',
    });
    expect(stuck.attempts).toBe(2);

    const admin = await adminPage(`chromium-outbox-admin-${engine}@example.com`);
    const { page } = admin;
    await page.goto(`${t.issuer}/admin/outbox`);
    await page.waitForURL(`${t.issuer}/admin/outbox`);
    await page.getByRole('heading', { name: 'Failed deliveries', level: 2 }).waitFor();
    const item = page.locator('li', { hasText: email });
    expect(await item.getByText('Email to').textContent()).toBe(`Email to ${email}`);
    expect(await item.textContent()).toMatch(/ECONNREFUSED/);
    const audit = await checkPage(page, 'outbox, failed');

    sink = await startMailSink(smtpPort);
    await item.getByRole('button', { name: 'Retry' }).click();
    await page.waitForURL(`${t.issuer}/admin/outbox?done=retried`);
    expect(await page.getByRole('status').textContent()).toBe('Back in the queue: it goes out now.');
    audit.push(...(await checkPage(page, 'outbox, retried')));

    const code = codeFrom(await sink.next(email));
    const atRp = user.page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    await user.page.getByLabel('Sign-in code').fill(code);
    await user.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const callback = new URL((await atRp).url());
    const tokens = await exchangeCode(config, user, callback);
    expect(tokens.claims()).toMatchObject({ iss: t.issuer, email, email_verified: true });
    await waitFor(async () => (await t.sesame.services.db.prisma.outboxMessage.findUniqueOrThrow({ where: { id: stuck.id } })).status === 'sent', {
      what: 'the retry to be recorded as sent',
    });
    // Recorded as sent, so nothing can send it again: one is final.
    expect(sink.to(email)).toHaveLength(1);
    const retried = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'outbox.retried', identifier: stuck.id } });
    expect(retried.map((a) => [a.userId, a.reason])).toEqual([[admin.user.id, `via console by admin:${admin.user.id}`]]);

    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Signing keys' }).click();
    await page.waitForURL(`${t.issuer}/admin/keys`);
    await page.getByRole('heading', { name: 'Signing keys', level: 1 }).waitFor();
    audit.push(...(await checkPage(page, 'keys')));
    const before = await t.sesame.services.db.prisma.signingKey.findMany({ where: { retiredAt: null } });
    await page.getByLabel('Yes, rotate the signing keys now').check();
    await page.getByRole('button', { name: 'Rotate keys' }).click();
    await page.waitForURL(`${t.issuer}/admin/keys?done=rotated`);
    expect(await page.getByRole('status').textContent()).toBe('Rotated. The new keys sign from now on; the old ones stay published until their tokens expire.');
    expect(await page.getByText('Retired: verifies only').count()).toBe(2);
    for (const key of before) expect(await page.locator('li', { hasText: key.kid }).getByText('Retired: verifies only').isVisible()).toBe(true);
    audit.push(...(await checkPage(page, 'keys, rotated')));
    const rotated = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'keys.rotated' } });
    expect(rotated.map((a) => [a.userId, a.reason])).toEqual([[admin.user.id, `via console by admin:${admin.user.id}`]]);

    expect(audit).toEqual([]);
    expect(admin.problems).toEqual([]);
    expect(user.problems).toEqual([]);
  });
});
