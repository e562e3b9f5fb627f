// A login link opened on another device, for a client with an initiate_login_uri: instead of
// approving the waiting sign-in, the user can sign in on this device; the waiting one never continues.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { startLogin } from '../helpers/login.js';
import { FormClient } from '../helpers/form-client.js';
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

describe('sign in on this device instead', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());

  it('starts a new sign-in here through the client and leaves the waiting one unapproved', async () => {
    const portal = await oidc.discovery(new URL(t.issuer), 'portal', undefined, oidc.ClientSecretPost(SECRET), { execute: [oidc.allowInsecureRequests] });
    const laptop = await startLogin(t, portal);
    const codePage = await laptop.browser.submit(laptop.page, '/email', { email: 'here@example.com' }, t.url);
    const link = linkFrom(await t.mail.next('here@example.com'), '/login/link');

    const phone = new FormClient();
    const match = await phone.submit(await phone.request(link), '/login/link', {}, t.url);
    expect(match.html).toContain('Sign in to Portal on this device instead');
    const away = await phone.submit(match, '/login/link/here', {}, t.url);
    expect(away.location).toBe(`https://portal.example/login?iss=${encodeURIComponent(t.issuer)}&login_hint=here%40example.com`);
    const onPhone = await startLogin(t, portal, { login_hint: 'here@example.com' }, phone);
    expect(onPhone.page.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);

    const status = await laptop.browser.request(`${t.url}${new URL(codePage.url).pathname}/status`);
    expect(JSON.parse(status.html)).toEqual({ approved: false });
    const still = await laptop.browser.request(codePage.url);
    expect(still.html).toContain('autocomplete="one-time-code"');
  });
});
