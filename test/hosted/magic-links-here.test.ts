// A login link opened on another device, for a client with an initiate_login_uri: instead of
// approving the waiting sign-in, the user can sign in on this device; the waiting one never continues.
// That too needs the number the waiting device shows (issue 11, item 4): without it, a forwarded or
// stolen link would give its holder a session anywhere.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { startLogin } from '../helpers/login.js';
import { FormClient, findForm, type Page } from '../helpers/form-client.js';
import { linkFrom } from '../helpers/smtp.js';

const SECRET = 'portal-secret-portal-secret-portal';
const fixture = {
  clients: [
    {
      client_id: 'portal',
      client_secret: SECRET,
      client_name: 'Portal',
      redirect_uris: ['http://127.0.0.1:9/cb'],
      initiate_login_uri: 'https://portal.example/login',
      grant_types: ['authorization_code'],
      first_party: true,
    },
  ],
};
const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
const numberOn = (page: Page) => /id="match-number">(\d{2})</.exec(page.html)![1]!;
const wrongOf = (number: string) => String(((Number(number) - 9) % 90) + 10);

describe.each(ENGINES)('sign in on this device instead on %s', (engine) => {
  let t: TestSesame;
  let portal: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture);
    portal = await oidc.discovery(new URL(t.issuer), 'portal', undefined, oidc.ClientSecretPost(SECRET), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => t?.stop());

  /** A sign-in waiting on the laptop, and the phone at the link's number page. */
  async function waiting() {
    const email = `here${++n}-${engine}@example.com`;
    const laptop = await startLogin(t, portal);
    const codePage = await laptop.browser.submit(laptop.page, '/email', { email }, t.url);
    const link = linkFrom(await t.mail.next(email), '/login/link');
    const phone = new FormClient();
    const match = await phone.submit(await phone.request(link), '/login/link', {}, t.url);
    expect(match.html).toContain('Sign in to Portal on this device instead');
    let form = findForm(match.html, '/login/link/approve');
    /** Posts the number form with the "on this device" button (its formaction); the answer's form is the next one. */
    async function here(number?: string) {
      const page = await phone.follow(`${t.url}/login/link/here`, t.url, { form: { ...form.fields, ...(number === undefined ? {} : { number }) } });
      if (page.html.includes('formaction="/login/link/here"')) form = findForm(page.html, '/login/link/approve');
      return page;
    }
    return { email, laptop, codePage, link, phone, here };
  }

  const statusOf = async (w: Awaited<ReturnType<typeof waiting>>) => JSON.parse((await w.laptop.browser.request(`${t.url}${new URL(w.codePage.url).pathname}/status`)).html);

  it('starts a new sign-in here through the client with the number, and leaves the waiting one unapproved', async () => {
    const w = await waiting();
    const away = await w.here(numberOn(w.codePage));
    expect(away.location).toBe(`https://portal.example/login?iss=${encodeURIComponent(t.issuer)}&login_hint=${encodeURIComponent(w.email)}`);
    const onPhone = await startLogin(t, portal, { login_hint: w.email }, w.phone);
    expect(onPhone.page.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);

    expect(await statusOf(w)).toEqual({ approved: false });
    const still = await w.laptop.browser.request(w.codePage.url);
    expect(still.html).toContain('autocomplete="one-time-code"');
  });

  it('gives the other device no session without the number, and ends the link at a wrong one', async () => {
    const w = await waiting();
    // No number: asked again, nothing used, no ticket.
    const none = await w.here();
    expect([none.status, alertOf(none.html), none.location]).toEqual([400, 'Type the two-digit number your other device shows.', undefined]);
    expect(w.phone.cookie('sesame.ticket')).toBeUndefined();
    // A wrong number: the link is over, on either button.
    const wrong = await w.here(wrongOf(numberOn(w.codePage)));
    expect([wrong.status, wrong.location]).toEqual([400, undefined]);
    expect(alertOf(wrong.html)).toBe(
      'That number does not match the one on your other device, so this link no longer works and no one was signed in. If you did not start this sign-in yourself, someone else may be trying to: ignore it. Otherwise start signing in again.',
    );
    expect(w.phone.cookie('sesame.ticket')).toBeUndefined();
    const right = await w.here(numberOn(w.codePage));
    expect([right.status, right.location]).toEqual([400, undefined]);
    // The phone's own sign-in at the client asks for an email like any other.
    const onPhone = await startLogin(t, portal, { login_hint: w.email }, w.phone);
    expect([onPhone.page.status, onPhone.page.location]).toEqual([200, undefined]);
    expect(onPhone.page.html).toContain('autocomplete="email"');
    expect(await statusOf(w)).toEqual({ approved: false });
  });
});
