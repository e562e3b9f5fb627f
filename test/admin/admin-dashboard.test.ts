// The console dashboard on both engines: known audit events (repeats folded onto one row), decisions
// and outbox messages at known times, counted per minute and per hour in SQL, exactly, with what lies
// outside the window left out; the same numbers in the page's tables. /admin lands on it. And the
// attacks: no session, a user who is not an admin, sign-out without (or with another admin's) CSRF
// token; a real sign-out ends the console cookie and the Sesame session, audited with the admin's id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { findSession } from '../../src/storage/oidc-sessions.js';
import { loadDashboard } from '../../src/interactions/dashboard-series.js';
import { ADMIN_FIXTURE, consoleSignIn, userWithApp } from './admin-helpers.js';
import { at, audit, chartTable, decision, message } from './dashboard-fixtures.js';

const NOW = at('2031-01-01T12:30:20Z');
const zeros = (n: number) => new Array<number>(n).fill(0);
/** `n` buckets, zero but for {bucket: value}. */
const buckets = (n: number, values: Record<number, number>) => zeros(n).map((_v, i) => values[i] ?? 0);

describe.each(ENGINES)('admin dashboard on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;
  const nextEmail = (who: string) => `${who}${++n}-${engine}@example.com`;

  /** A new admin (or user) with an authenticator app, signed in to the console at `start` in a new browser. */
  async function signIn(start = '/admin', admin = true) {
    const email = nextEmail(admin ? 'admin' : 'user');
    const { user, secret } = await userWithApp(t, email, admin);
    return { user, ...(await consoleSignIn(t, email, secret, start)) };
  }

  it('counts sign-ins, wrong codes, sends, deliveries and decisions per minute and per hour, folded repeats included', async () => {
    const email = { identifier: 'someone@example.com', clientId: 'app', ip: '198.51.100.1' };
    const phone = { identifier: '+15555550123', clientId: 'app', ip: '198.51.100.2' };
    await audit(db(), { type: 'login', reason: 'email_code', ...email }, at('2031-01-01T12:30:00Z'));
    await audit(db(), { type: 'login', reason: 'email_code', ...email }, at('2031-01-01T12:29:05Z'));
    await audit(db(), { type: 'code.failed', reason: 'wrong', ...email }, at('2031-01-01T12:29:30Z'), 3);
    await audit(db(), { type: 'code.failed', reason: 'wrong', ...phone }, at('2031-01-01T12:00:00Z'), 2);
    await audit(db(), { type: 'passkey.login', userId: 'u1' }, at('2031-01-01T11:31:00Z'));
    await audit(db(), { type: 'code.sent', ...email }, at('2031-01-01T12:10:00Z'));
    await audit(db(), { type: 'code.sent', ...phone }, at('2031-01-01T12:10:59Z'));
    await audit(db(), { type: 'link.used', ...email }, at('2031-01-01T12:10:30Z'));
    await audit(db(), { type: 'client.created', clientId: 'x' }, at('2031-01-01T12:10:30Z'));
    // Outside the hour (one is inside the day), and after its end.
    await audit(db(), { type: 'login', reason: 'sms_code', ...phone }, at('2031-01-01T11:30:59Z'));
    await audit(db(), { type: 'login', reason: 'email_code', ...email }, at('2031-01-01T12:31:00Z'));
    await audit(db(), { type: 'login', reason: 'email_code', ...email }, at('2030-12-31T12:59:59Z'));
    await decision(db(), 'ALLOW', at('2031-01-01T12:30:00Z'));
    await decision(db(), 'BLOCK', at('2031-01-01T12:15:10Z'));
    await decision(db(), 'BLOCK', at('2031-01-01T12:15:50Z'));
    await decision(db(), 'REVIEW', at('2031-01-01T10:00:00Z'));
    await message(db(), 'sent', at('2031-01-01T12:19:59Z'), at('2031-01-01T12:20:00Z'));
    await message(db(), 'failed', at('2031-01-01T12:25:00Z'));
    await message(db(), 'skipped', at('2031-01-01T12:25:30Z'));
    await message(db(), 'sent', at('2031-01-01T09:00:00Z'), at('2031-01-01T09:00:01Z'));

    const folded = await db().prisma.auditEvent.findMany({ where: { type: 'code.failed', createdAt: { gte: at('2031-01-01T00:00:00Z') } }, orderBy: { createdAt: 'asc' } });
    expect(folded.map((row) => [row.identifier, row.count])).toEqual([
      ['+15555550123', 2],
      ['someone@example.com', 3],
    ]);

    const hour = await loadDashboard(db(), 'hour', NOW);
    expect(hour.window).toEqual({ start: at('2031-01-01T11:31:00Z'), width: 60, buckets: 60 });
    const series = (list: { key: string; bad: boolean; values: number[] }[]) => Object.fromEntries(list.map((s) => [s.key, [s.bad, s.values]]));
    expect(series(hour.signIns)).toEqual({
      'email_code.success': [false, buckets(60, { 58: 1, 59: 1 })],
      'email_code.failure': [true, buckets(60, { 58: 3 })],
      'sms_code.failure': [true, buckets(60, { 29: 2 })],
      'link.success': [false, buckets(60, { 39: 1 })],
      'passkey.success': [false, buckets(60, { 0: 1 })],
    });
    expect(series(hour.failedCodes)).toEqual({ email: [true, buckets(60, { 58: 3 })], sms: [true, buckets(60, { 29: 2 })] });
    expect(series(hour.sends)).toEqual({
      requested: [false, buckets(60, { 39: 2 })],
      delivered: [false, buckets(60, { 49: 1 })],
      undelivered: [true, buckets(60, { 54: 2 })],
    });
    expect(series(hour.decisions)).toEqual({
      ALLOW: [false, buckets(60, { 59: 1 })],
      CHALLENGE: [false, zeros(60)],
      REVIEW: [true, zeros(60)],
      BLOCK: [true, buckets(60, { 44: 2 })],
    });
    expect([hour.totals.signIns, hour.totals.failures]).toEqual([9, 5]);
    expect(hour.totals.held).toBe(await db().prisma.actionDecision.count({ where: { state: 'REVIEW_REQUIRED' } }));

    const day = await loadDashboard(db(), 'day', NOW);
    expect(day.window).toEqual({ start: at('2030-12-31T13:00:00Z'), width: 3600, buckets: 24 });
    expect(series(day.signIns)).toEqual({
      'email_code.success': [false, buckets(24, { 23: 3 })],
      'email_code.failure': [true, buckets(24, { 23: 3 })],
      'sms_code.success': [false, buckets(24, { 22: 1 })],
      'sms_code.failure': [true, buckets(24, { 23: 2 })],
      'link.success': [false, buckets(24, { 23: 1 })],
      'passkey.success': [false, buckets(24, { 22: 1 })],
    });
    expect(series(day.sends).delivered).toEqual([false, buckets(24, { 20: 1, 23: 1 })]);
    expect(series(day.decisions).REVIEW).toEqual([true, buckets(24, { 21: 1 })]);
  });

  it('shows the same numbers in the page: the minute and the hour of known events, the totals, links to both ranges', async () => {
    const admin = await signIn();
    expect([admin.page.status, admin.page.url]).toEqual([200, `${t.issuer}/admin/dashboard`]);
    expect(admin.page.html).toContain('<a href="/admin/dashboard" aria-current="page">Dashboard</a>');
    expect(admin.page.html).toContain('<a href="/admin/dashboard" aria-current="page">Last hour</a>');
    expect(admin.page.html).toContain('<a href="/admin/dashboard?range=day">Last day</a>');
    // Half an hour ago: a minute nobody else touches in this file.
    const when = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000 + 15_000);
    const minute = when.toISOString().slice(11, 16);
    const sms = { identifier: '+15555550199', clientId: 'app', ip: '198.51.100.9' };
    await audit(db(), { type: 'code.failed', reason: 'wrong', ...sms }, when, 4);
    await audit(db(), { type: 'login', reason: 'sms_code', ...sms }, when);
    await decision(db(), 'BLOCK', when);
    await decision(db(), 'CHALLENGE', when);
    await decision(db(), 'CHALLENGE', when);

    const page = await admin.browser.request(`${t.issuer}/admin/dashboard`);
    expect(page.status).toBe(200);
    const signIns = chartTable(page.html, 'sign_ins');
    expect(signIns.columns).toContain('SMS code, success');
    expect(signIns.columns).toContain('SMS code, failure');
    const column = (name: string) => signIns.columns.indexOf(name);
    expect(Object.keys(signIns.rows)).toHaveLength(61);
    expect([signIns.rows[minute]![column('SMS code, success')], signIns.rows[minute]![column('SMS code, failure')]]).toEqual([1, 4]);
    expect(signIns.rows[minute]!.reduce((a, b) => a + b, 0)).toBe(5);
    expect(chartTable(page.html, 'failed_codes')).toEqual(expect.objectContaining({ columns: ['Email', 'Text message'] }));
    expect(chartTable(page.html, 'failed_codes').rows[minute]).toEqual([0, 4]);
    expect(chartTable(page.html, 'decisions').columns).toEqual(['Allowed', 'Challenged', 'Held for review', 'Blocked']);
    expect(chartTable(page.html, 'decisions').rows[minute]).toEqual([0, 2, 0, 1]);
    expect(chartTable(page.html, 'sends').columns).toEqual(['Codes sent', 'Delivered', 'Not delivered']);
    expect(page.html).toContain('<li><svg class="swatch"');
    expect(page.html).toMatch(/<svg class="chart" viewBox="0 0 400 210" role="img" aria-labelledby="sign_ins-caption" aria-describedby="sign_ins-legend">/);
    expect(page.html).toContain('SMS code, failure: ');
    expect(page.html).not.toMatch(/<script(?! src=)/);
    const held = await db().prisma.actionDecision.count({ where: { state: 'REVIEW_REQUIRED' } });
    expect(page.html).toMatch(new RegExp(`<dd>${held} <a href="/admin/reviews">Open the review queue</a></dd>`));

    const day = await admin.browser.request(`${t.issuer}/admin/dashboard?range=day`);
    expect(day.html).toContain('<a href="/admin/dashboard?range=day" aria-current="page">Last day</a>');
    const hourRow = `${minute.slice(0, 2)}:00`;
    const decisions = chartTable(day.html, 'decisions');
    expect(Object.keys(decisions.rows)).toHaveLength(25);
    expect(decisions.rows[hourRow]).toEqual([0, 2, 0, 1]);
    expect(chartTable(day.html, 'failed_codes').rows[hourRow]).toEqual([0, 4]);
    for (const odd of ['week', '', 'hour%00', 'x'.repeat(500)]) {
      const other = await admin.browser.request(`${t.issuer}/admin/dashboard?range=${odd}`);
      expect([odd, other.status, other.html.includes('<a href="/admin/dashboard" aria-current="page">Last hour</a>')]).toEqual([odd, 200, true]);
    }
  });

  it('sends a visitor without a session to sign in, and refuses a signed-in user who is not an admin', async () => {
    const visitor = await new FormClient().request(`${t.issuer}/admin/dashboard?range=day`);
    expect(visitor.status).toBe(303);
    expect(new URL(visitor.headers.get('location')!).pathname).toBe('/authorize');
    const user = await signIn('/admin/dashboard', false);
    expect([user.page.status, user.page.url]).toEqual([403, `${t.issuer}/admin/dashboard`]);
    expect(user.page.html).toContain('Only admins may use the admin console. Ask an operator to grant you the role.');
    expect(user.page.html).not.toContain('chart-figure');
  });

  it('signs out only with the CSRF token of this session: the console cookie and the Sesame session end, audited', async () => {
    const admin = await signIn();
    const other = await signIn();
    const session = async (who: typeof admin) => {
      const sessions = await db().prisma.oidcPayload.findMany({ where: { model: 'Session', accountId: who.user.id } });
      return Promise.all(sessions.map((row) => findSession(db(), row.uid!)));
    };
    expect((await session(admin)).filter(Boolean)).toHaveLength(1);

    const missing = await admin.browser.request(`${t.issuer}/admin/sign-out`, { form: { csrf: '' } });
    const forged = await admin.browser.request(`${t.issuer}/admin/sign-out`, { form: { csrf: 'forged' } });
    const othersToken = await admin.browser.request(`${t.issuer}/admin/sign-out`, { form: { csrf: other.csrf } });
    const stranger = await new FormClient().request(`${t.issuer}/admin/sign-out`, { form: { csrf: admin.csrf } });
    expect([missing.status, forged.status, othersToken.status, stranger.status]).toEqual([403, 403, 403, 401]);
    expect(forged.html).toContain('This form has expired. Reload the page and try again.');
    expect((await admin.browser.request(`${t.issuer}/admin/dashboard`)).status).toBe(200);
    expect(await db().prisma.auditEvent.count({ where: { type: 'admin.signed_out', userId: admin.user.id } })).toBe(0);

    const out = await admin.browser.request(`${t.issuer}/admin/sign-out`, { form: { csrf: admin.csrf } });
    expect([out.status, out.headers.get('location')]).toEqual([303, '/admin/signed-out']);
    expect(out.headers.get('set-cookie')).toMatch(/^sesame_admin=; path=\/admin; expires=Thu, 01 Jan 1970 00:00:00 GMT; samesite=lax; httponly/);
    const signedOut = await admin.browser.request(`${t.issuer}/admin/signed-out`);
    expect(signedOut.status).toBe(200);
    expect(signedOut.html).toContain('<h1>You are signed out</h1>');
    expect(signedOut.html).toContain('<p><a href="/admin">Sign in again</a></p>');
    expect(await session(admin)).toEqual([]);
    const audits = await db().prisma.auditEvent.findMany({ where: { type: 'admin.signed_out', userId: admin.user.id } });
    expect(audits.map((a) => [a.type, a.userId, a.reason])).toEqual([['admin.signed_out', admin.user.id, `via console by admin:${admin.user.id}`]]);

    // Back at the console: a new sign-in, asked of Sesame itself (its session is gone, so the sign-in page shows).
    const again = await admin.browser.follow(`${t.issuer}/admin`, t.issuer);
    expect(again.url).toMatch(/\/interaction\/[^/]+$/);
    expect(again.html).toContain('name="email"');
    // A replay of the old form finds no session.
    expect((await admin.browser.request(`${t.issuer}/admin/sign-out`, { form: { csrf: admin.csrf } })).status).toBe(401);
    // The other admin is untouched.
    expect((await other.browser.request(`${t.issuer}/admin/dashboard`)).status).toBe(200);
  });
});
