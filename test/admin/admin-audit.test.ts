// The console's audit log without JavaScript, on both engines: an admin signs in (audited as
// admin.signed_in with their id) and lands back on /admin/audit; each filter (user by email, by an
// address without an account, application, event, days) and the "older" cursor link; the CSV of the
// current filter byte for byte, RFC 4180 quoting and spreadsheet formulas neutralised, the export
// audited with the admin's id and without the email typed. The attacks: a non-admin and a stranger
// get neither page nor CSV, bad filters and a tampered cursor are a readable 400 page, typed markup
// comes back escaped. (GET only: there is no form to forge.) In Chromium: test/browser/admin-audit.test.ts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { htmlText } from '../helpers/html.js';
import { recordAudit, type AuditEntry } from '../../src/storage/audit.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ADMIN_FIXTURE, consoleSignIn, userWithApp } from './admin-helpers.js';

describe.each(ENGINES)('the console audit log on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let n = 0;
  const mark = randomUUID().slice(0, 8);
  beforeAll(async () => {
    t = await startTestSesame(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;
  const nextEmail = (who: string) => `${who}${++n}-${mark}@example.com`;

  /** A signed-in console browser of a new user with an authenticator app (an admin unless `admin` is false), started at /admin/audit. */
  async function signIn(admin = true) {
    const email = nextEmail('admin');
    const { user, secret } = await userWithApp(t, email, admin);
    return { user, ...(await consoleSignIn(t, email, secret, '/admin/audit')) };
  }

  async function event(entry: AuditEntry, at: string) {
    await recordAudit(db(), entry, new Date(at));
    return (await db().prisma.auditEvent.findFirstOrThrow({ where: { type: entry.type, createdAt: new Date(at), clientId: entry.clientId ?? null } })).id;
  }

  /** The table's rows as the text of each cell. */
  const rows = (html: string) =>
    [...(/<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '').matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
      [...r[1]!.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((c) => htmlText(c[1]!)),
    );
  const when = (iso: string) => new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC' }).format(new Date(iso)) + ' UTC';
  const get = (browser: FormClient, path: string) => browser.request(`${t.issuer}${path}`);

  it('audits the admin’s sign-in, returns to the log, and filters by user, address, application, event and days', async () => {
    const admin = await signIn();
    expect([admin.page.status, admin.page.url]).toEqual([200, `${t.issuer}/admin/audit`]);
    expect(admin.page.html).toContain('<h1>Audit log</h1>');
    expect(admin.page.html).toContain('<a href="/admin/audit" aria-current="page">Audit log</a>');
    expect(admin.page.headers.get('cache-control')).toBe('no-store');
    const signedIn = await db().prisma.auditEvent.findMany({ where: { type: 'admin.signed_in', userId: admin.user.id } });
    expect(signedIn.map((e) => [e.clientId, e.ip, e.reason?.startsWith('amr ')])).toEqual([['sesame-admin-console', expect.any(String), true]]);

    const holder = await upsertVerifiedEmailUser(db(), nextEmail('holder'));
    const stranger = nextEmail('stranger');
    const [x, y] = [`x-${mark}`, `y-${mark}`];
    await event({ type: 'login', userId: holder.id, clientId: x, identifier: holder.email, ip: '192.0.2.1', reason: 'email_code', userAgent: 'UA/1' }, '2003-04-01T08:00:00.000Z');
    await event({ type: 'code.sent', clientId: x, identifier: stranger, ip: '192.0.2.2' }, '2003-04-02T08:00:00.000Z');
    await event({ type: 'passkey.login', userId: holder.id, clientId: y, reason: '<b>bold</b>' }, '2003-04-03T08:00:00.000Z');
    const row1 = [when('2003-04-01T08:00:00Z'), 'login', `${holder.email} ${holder.id}`, x, '192.0.2.1', 'email_code UA/1'];
    const row2 = [when('2003-04-02T08:00:00Z'), 'code.sent', stranger, x, '192.0.2.2', ''];
    const row3 = [when('2003-04-03T08:00:00Z'), 'passkey.login', holder.id, y, '', '<b>bold</b>'];

    const byEmail = await get(admin.browser, `/admin/audit?user=${encodeURIComponent(holder.email!.toUpperCase())}`);
    expect([byEmail.status, rows(byEmail.html)]).toEqual([200, [row3, row1]]);
    expect(byEmail.html).toContain('&lt;b&gt;bold&lt;/b&gt;');
    expect(byEmail.html).toContain(`<a href="/admin/audit.csv?user=${encodeURIComponent(holder.email!.toUpperCase())}" download>Download CSV</a>`);
    expect(rows((await get(admin.browser, `/admin/audit?user=${holder.id}`)).html)).toEqual([row3, row1]);
    expect(rows((await get(admin.browser, `/admin/audit?user=${encodeURIComponent(stranger)}`)).html)).toEqual([row2]);
    expect(rows((await get(admin.browser, `/admin/audit?client=${x}`)).html)).toEqual([row2, row1]);
    const typed = await get(admin.browser, `/admin/audit?client=${y}&type=passkey.login`);
    expect(rows(typed.html)).toEqual([row3]);
    expect(typed.html).toContain('<option value="passkey.login" selected>passkey.login</option>');
    // Both days count whole: the 2nd and the 3rd.
    expect(rows((await get(admin.browser, '/admin/audit?from=2003-04-02&to=2003-04-03')).html)).toEqual([row3, row2]);
    const none = await get(admin.browser, `/admin/audit?client=${x}&type=passkey.login`);
    expect([none.status, rows(none.html), none.html.includes('No event matches these filters.')]).toEqual([200, [], true]);
  });

  it('pages older events with the cursor link and back to the newest', async () => {
    const admin = await signIn();
    const app = `paged-${mark}`;
    for (let i = 0; i < 52; i++) await recordAudit(db(), { type: 'login', clientId: app, userId: `p${i}` }, new Date(Date.UTC(2004, 0, 1, 0, i)));
    const first = await get(admin.browser, `/admin/audit?client=${app}`);
    expect(rows(first.html).map((r) => r[2])).toEqual(Array.from({ length: 50 }, (_, i) => `p${51 - i}`));
    const older = /<a href="([^"]+)" rel="next">Older events<\/a>/.exec(first.html)?.[1]?.replaceAll('&amp;', '&');
    expect(older).toMatch(new RegExp(`^/admin/audit\\?client=${app}&cursor=[\\w-]+$`));
    const second = await get(admin.browser, older!);
    expect([second.status, rows(second.html).map((r) => r[2])]).toEqual([200, ['p1', 'p0']]);
    expect(second.html).toContain(`<a href="/admin/audit?client=${app}">Newest events</a>`);
    expect(second.html).not.toContain('Older events');
  });

  it('downloads the filtered log as CSV, quoted and with formulas neutralised, audited as an export with the admin’s id', async () => {
    const admin = await signIn();
    const app = `csv-${mark}`;
    const one = await event(
      { type: 'login', userId: 'u-csv', clientId: app, identifier: "=cmd|' /C calc'!A0", ip: '192.0.2.9', reason: 'a,b "quoted"', userAgent: '+SUM(1,2)' },
      '2005-05-01T00:00:00.000Z',
    );
    const two = await event({ type: 'code.failed', clientId: app, identifier: '@evil', reason: '-2+3', userAgent: 'line1\nline2' }, '2005-05-02T00:00:00.000Z');
    const csv = await get(admin.browser, `/admin/audit.csv?client=${app}`);
    expect([csv.status, csv.headers.get('content-type')]).toEqual([200, 'text/csv; charset=utf-8']);
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="sesame-audit-\d{8}-\d{6}\.csv"$/);
    expect(csv.html).toBe(
      [
        'id,type,createdAt,lastAt,count,userId,clientId,identifier,ip,reason,userAgent',
        `${two},code.failed,2005-05-02T00:00:00.000Z,,1,,${app},'@evil,,'-2+3,"line1\nline2"`,
        `${one},login,2005-05-01T00:00:00.000Z,,1,u-csv,${app},'=cmd|' /C calc'!A0,192.0.2.9,"a,b ""quoted""","'+SUM(1,2)"`,
        '',
      ].join('\r\n'),
    );
    const holder = await upsertVerifiedEmailUser(db(), nextEmail('exported'));
    const byUser = await get(admin.browser, `/admin/audit.csv?user=${encodeURIComponent(holder.email!)}&type=login`);
    expect([byUser.status, byUser.html]).toEqual([200, 'id,type,createdAt,lastAt,count,userId,clientId,identifier,ip,reason,userAgent\r\n']);
    const exports = await db().prisma.auditEvent.findMany({ where: { type: 'admin.audit_exported', userId: admin.user.id }, orderBy: { createdAt: 'asc' } });
    expect(exports.map((e) => [e.clientId, e.reason])).toEqual([
      ['sesame-admin-console', `rows=2; client=${app}`],
      ['sesame-admin-console', `rows=0; user=${holder.id}&type=login`],
    ]);
  });

  it('answers bad filters and a tampered cursor with a readable 400 page, and a bad CSV filter with a 400', async () => {
    const admin = await signIn();
    const bad = async (query: string, message: string) => {
      const page = await get(admin.browser, `/admin/audit?${query}`);
      expect([page.status, /<p class="message error" role="alert" id="form-error">([^<]*)<\/p>/.exec(page.html)?.[1], rows(page.html)], query).toEqual([400, message, []]);
      return page;
    };
    await bad('user=not%40an%40email', 'Enter an email address, a phone number in international form (+…) or a user id.');
    await bad('user=%2B12', 'Enter an email address, a phone number in international form (+…) or a user id.');
    const script = await bad('client=%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'Enter a client id: letters, digits and - _ . : only.');
    expect(script.html).not.toContain('<script>alert(1)');
    expect(script.html).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;"');
    await bad('type=login,logout', 'Choose an event from the list.');
    await bad('from=2005-02-30', 'Enter days as YYYY-MM-DD.');
    await bad('to=yesterday', 'Enter days as YYYY-MM-DD.');
    await bad('from=2005-03-02&to=2005-03-01', 'The end day is before the start day.');
    await bad('cursor=not-a-cursor', 'This page link is no longer valid. Start again from the newest events.');
    await bad(`cursor=${Buffer.from(JSON.stringify([1, "x' OR '1'='1"])).toString('base64url')}`, 'This page link is no longer valid. Start again from the newest events.');
    const csv = await get(admin.browser, '/admin/audit.csv?from=2005-13-01');
    expect([csv.status, csv.headers.get('content-type'), csv.html.includes('These audit filters are not valid.')]).toEqual([400, 'text/html; charset=utf-8', true]);
  });

  it('gives a non-admin and a stranger neither the page nor the CSV, and audits no export for them', async () => {
    const user = await signIn(false);
    expect([user.page.status, user.page.url]).toEqual([403, `${t.issuer}/admin/audit`]);
    expect(user.page.html).toContain('Only admins may use the admin console. Ask an operator to grant you the role.');
    const csv = await get(user.browser, '/admin/audit.csv');
    expect([csv.status, csv.headers.get('content-type')]).toEqual([403, 'text/html; charset=utf-8']);
    const stranger = await get(new FormClient(), '/admin/audit.csv');
    expect([stranger.status, new URL(stranger.headers.get('location')!).pathname]).toEqual([303, '/authorize']);
    expect(await db().prisma.auditEvent.count({ where: { type: 'admin.audit_exported', userId: user.user.id } })).toBe(0);
    expect(await db().prisma.auditEvent.count({ where: { type: 'admin.signed_in', userId: user.user.id } })).toBe(0);
  });
});
