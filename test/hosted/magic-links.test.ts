// Magic links of the hosted sign-in: same browser (one click), another device (number matching),
// mail scanners (fetch, HEAD, even a click: nothing), single use under concurrency, on both databases.
// One wrong number ends the link (issue 11, item 4: a victim talked into guessing gets one try in 90).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { FormClient, findForm, type Page } from '../helpers/form-client.js';
import { linkFrom } from '../helpers/smtp.js';
import { oidcFixture } from '../oidc/fixture.js';

const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
const numberOn = (page: Page) => /id="match-number">(\d{2})</.exec(page.html)?.[1];
const wrongOf = (number: string) => String(((Number(number) - 9) % 90) + 10);
const ENDED =
  'That number does not match the one on your other device, so this link no longer works and no one was signed in. If you did not start this sign-in yourself, someone else may be trying to: ignore it. Otherwise start signing in again.';

describe.each(ENGINES)('magic links on %s', (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, oidcFixture);
  });
  afterAll(() => t?.stop());

  /** A sign-in waiting at the code step, and the link from its email. */
  async function waiting() {
    const email = `link${++n}-${engine}@example.com`;
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    const codePage = await started.browser.submit(started.page, '/email', { email }, t.url);
    const link = linkFrom(await t.mail.next(email), '/login/link');
    return { started, codePage, link, email };
  }

  it('finishes the sign-in in the same browser with one click, after scanners opened the link', async () => {
    const { started, link } = await waiting();
    const scanner = new FormClient();
    expect((await scanner.request(link, { method: 'HEAD' })).status).toBe(200);
    expect((await scanner.request(link)).status).toBe(200);

    const page = await started.browser.request(link);
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.html).toContain('Sign in to Test App as');
    const done = await started.browser.submit(page, '/login/link', {}, t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    // Used: opening it again says so.
    const again = await scanner.request(link);
    expect([again.status, alertOf(again.html)]).toEqual([400, 'This sign-in link was already used or replaced by a newer one. Start signing in again to get a new one.']);
  });

  it('approves a sign-in from another device with the number it shows; input that is not a number only asks again', async () => {
    const { started, codePage, link } = await waiting();
    const number = numberOn(codePage)!;
    expect(number).toMatch(/^\d{2}$/);

    const phone = new FormClient();
    const match = await phone.submit(await phone.request(link), '/login/link', {}, t.url);
    expect(match.status).toBe(200);
    expect(match.html).toContain('Type the number that device shows. A wrong number ends this link.');
    // The page says where the waiting sign-in came from, so a user can refuse one they did not start.
    expect(match.html).toMatch(/That sign-in started 0 min ago from IP address (127\.0\.0\.1|::ffff:127\.0\.0\.1)\. If that was not you, do not approve it\./);
    const wrong = await phone.submit(match, '/login/link/approve', { number: 'ab' }, t.url);
    expect([wrong.status, alertOf(wrong.html)]).toEqual([400, 'Type the two-digit number your other device shows.']);
    const status = async () => (await started.browser.request(`${t.url}${new URL(codePage.url).pathname}/status`)).html;
    expect(JSON.parse(await status())).toEqual({ approved: false });

    const approved = await phone.submit(wrong, '/login/link/approve', { number }, t.url);
    expect(approved.status).toBe(200);
    expect(approved.html).toContain('Go back to your other device: it continues by itself.');
    expect(JSON.parse(await status())).toEqual({ approved: true });
    // The phone got no session: nothing signed in there.
    expect(phone.cookieNames().filter((c) => c.startsWith('_session'))).toEqual([]);
    // The waiting device continues (the script submits this form; without JS the user clicks it).
    const done = await started.browser.follow(new URL(findForm(codePage.html, new URL(codePage.url).pathname).action, t.url).toString(), t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });

  it('ends the link at the first wrong number, with a page that says so; the right number then fails too', async () => {
    const { started, codePage, link, email } = await waiting();
    const number = numberOn(codePage)!;
    const phone = new FormClient();
    const match = await phone.submit(await phone.request(link), '/login/link', {}, t.url);
    const form = findForm(match.html, '/login/link/approve');
    const ended = await phone.submit(match, '/login/link/approve', { number: wrongOf(number) }, t.url);
    expect([ended.status, alertOf(ended.html)]).toEqual([400, ENDED]);
    // The guesser's second try, with the right number this time, approves nothing.
    const again = await phone.request(new URL(form.action, t.url).toString(), { form: { ...form.fields, number } });
    expect([again.status, alertOf(again.html)]).toEqual([400, 'This sign-in link was already used or replaced by a newer one. Start signing in again to get a new one.']);
    const status = await started.browser.request(`${t.url}${new URL(codePage.url).pathname}/status`);
    expect(JSON.parse(status.html)).toEqual({ approved: false });
    expect((await phone.request(link)).status).toBe(400);
    const rows = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'link.failed', identifier: email }, orderBy: { createdAt: 'asc' } });
    expect(rows.map((row) => row.reason)).toEqual(['number_wrong']);
  });

  it('lets exactly one of 20 parallel approvals through', async () => {
    const { codePage, link } = await waiting();
    const number = numberOn(codePage)!;
    const phone = new FormClient();
    const match = await phone.submit(await phone.request(link), '/login/link', {}, t.url);
    const form = findForm(match.html, '/login/link/approve');
    const url = new URL(form.action, t.url).toString();
    const pages = await Promise.all(Array.from({ length: 20 }, () => phone.request(url, { form: { ...form.fields, number } })));
    expect(pages.filter((p) => p.status === 200 && p.html.includes('Sign\u2011in approved'))).toHaveLength(1);
    expect(pages.filter((p) => p.status === 400)).toHaveLength(19);
  });

  it('lets exactly one of 20 parallel same-browser confirms through', async () => {
    const { started, link } = await waiting();
    const page = await started.browser.request(link);
    const form = findForm(page.html, '/login/link');
    const url = new URL(form.action, t.url).toString();
    const pages = await Promise.all(Array.from({ length: 20 }, () => started.browser.request(url, { form: form.fields })));
    expect(pages.filter((p) => p.status === 303 && p.headers.get('location')!.startsWith('/interaction/'))).toHaveLength(1);
    expect(pages.filter((p) => p.status === 400)).toHaveLength(19);
  });
});
