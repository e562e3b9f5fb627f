// The console's audit log in Chromium on both engines: an admin signs in with a passkey (the DevTools
// virtual authenticator, nothing typed) straight onto /admin/audit, filters by user, event and days,
// follows the table on a 360px phone (the page never scrolls sideways; the table scrolls inside its
// own labelled, focusable region), downloads the CSV of the filter, and axe finds nothing in light
// or dark mode. Without JavaScript and the attacks: test/admin/admin-audit.test.ts.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAudit } from '../../src/storage/audit.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { LOOPBACK_ONLY, useBrowser } from '../helpers/browser.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { passkeyPage } from './passkey-admin.js';
import { ADMIN_FIXTURE } from '../admin/admin-helpers.js';

describe.each(ENGINES)('the console audit log in Chromium on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  const mark = randomUUID().slice(0, 8);
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());

  /** A page whose virtual authenticator holds a passkey of a new admin, made by the real registration ceremony. */
  const adminPage = (email: string) => passkeyPage(t, chromium, email, { context: { acceptDownloads: true } });

  it('filters, pages on a phone without sideways scrolling, downloads the CSV; axe finds nothing', async () => {
    const { user, page, problems } = await adminPage(`chromium-audit-${mark}-${engine}@example.com`);
    const holder = await upsertVerifiedEmailUser(t.sesame.services.db, `holder-${mark}-${engine}@example.com`);
    const db = t.sesame.services.db;
    const long = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
    await recordAudit(
      db,
      { type: 'login', userId: holder.id, clientId: 'app', identifier: holder.email, ip: '2001:db8::1234:5678', reason: 'email_code', userAgent: long },
      new Date('2006-06-01T09:00:00Z'),
    );
    await recordAudit(db, { type: 'passkey.login', userId: holder.id, clientId: 'app', reason: '@SUM(1)' }, new Date('2006-06-02T09:00:00Z'));
    await recordAudit(db, { type: 'login', userId: holder.id, clientId: 'other', reason: 'sms_code' }, new Date('2006-07-01T09:00:00Z'));

    await page.goto(`${t.issuer}/admin/audit`);
    await page.waitForURL(`${t.issuer}/admin/audit`);
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    const audit = [...(await axeBothSchemes(page, 'audit log')), ...(await brokenHeadings(page))];
    // The admin's own sign-in is the newest event.
    expect(await page.locator('tbody tr').first().locator('td').nth(1).textContent()).toBe('admin.signed_in');

    await page.setViewportSize({ width: 360, height: 740 });
    await page.getByLabel('User (email address, phone number or id)').fill(holder.email!);
    await page.getByLabel('Event', { exact: true }).selectOption('login');
    await page.getByLabel('From (UTC)').fill('2006-06-01');
    await page.getByLabel('To (UTC, inclusive)').fill('2006-06-30');
    await page.getByRole('button', { name: 'Show events' }).click();
    await page.waitForURL(/\/admin\/audit\?user=/);
    const cells = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td'), (td) => td.innerText.replace(/\s+/g, ' ').trim())));
    expect(cells).toEqual([['Jun 1, 2006, 9:00:00 AM UTC', 'login', `${holder.email} ${holder.id}`, 'app', '2001:db8::1234:5678', `email_code ${long}`]]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    const region = page.getByRole('region', { name: 'Events' });
    expect(await region.evaluate((el) => [el.scrollWidth > el.clientWidth, el.tabIndex])).toEqual([true, 0]);
    // A keyboard user scrolls it: focus, then the arrow key (the scroll may be smooth: wait for it).
    await region.focus();
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction((el) => el!.scrollLeft > 0, await region.elementHandle());
    audit.push(...(await axeBothSchemes(page, 'audit log filtered, phone')), ...(await brokenHeadings(page)));

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^sesame-audit-\d{8}-\d{6}\.csv$/);
    const row = await db.prisma.auditEvent.findFirstOrThrow({ where: { userId: holder.id, clientId: 'app', type: 'login' } });
    expect(readFileSync((await download.path())!, 'utf8')).toBe(
      `id,type,createdAt,lastAt,count,userId,clientId,identifier,ip,reason,userAgent\r\n${row.id},login,2006-06-01T09:00:00.000Z,,1,${holder.id},app,${holder.email},2001:db8::1234:5678,email_code,"${long}"\r\n`,
    );
    const exported = await db.prisma.auditEvent.findFirstOrThrow({ where: { type: 'admin.audit_exported', userId: user.id } });
    expect([exported.clientId, exported.reason]).toEqual(['sesame-admin-console', `rows=1; user=${holder.id}&type=login&from=2006-06-01&to=2006-06-30`]);
    expect(audit).toEqual([]);
    expect(problems).toEqual([]);
  });
});
