// The account page's sessions over HTTP on both engines: a stale sign-in is sent to sign in again
// before adding or removing a passkey, "sign out other sessions" keeps this one and ends the others
// (their account pages and refresh tokens too), and changes are limited per user.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import type { TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { authorizationRequest } from '../helpers/authorization.js';
import { rpConfig, exchangeCode } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { APP, CHROME_ON_LINUX, csrfOf, mainOf, nextNotice, postJson, signInToAccount, startAccountSesame } from './account-helpers.js';

describe.each(ENGINES)('account sessions on %s', (engine) => {
  let t: TestSesame;
  let n = 0;
  const nextEmail = () => `sessions${++n}@example.com`;
  beforeAll(async () => {
    // One second between two codes to one address from one network: two browsers sign in as one user.
    t = await startAccountSesame(engine, { clients: [APP], codes: { resendCooldown: 1 } });
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;

  /** Signs in to the app (not the account page) in a new browser: its refresh token and the browser. */
  async function signInToApp(email: string) {
    const browser = new FormClient({ 'user-agent': CHROME_ON_LINUX });
    const config = await rpConfig(t, 'app', APP.client_secret);
    const request = await authorizationRequest(config, { redirect_uri: APP.redirect_uris[0]!, scope: 'openid email offline_access', prompt: 'consent' });
    const first = await browser.follow(request.url.toString(), t.issuer);
    const codePage = await browser.submit(first, '/email', { email }, t.issuer);
    const back = await browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.issuer);
    const tokens = await exchangeCode(config, request, back.location);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    return { browser, config, refreshToken: tokens.refresh_token! };
  }

  /** Moves the user's sign-ins back in time, as if they happened `seconds` ago. */
  async function ageSignIns(userId: string, seconds: number) {
    for (const row of await db().prisma.oidcPayload.findMany({ where: { model: 'Session', accountId: userId } })) {
      const payload = JSON.parse(row.payload) as { loginTs: number };
      payload.loginTs -= seconds;
      await db().prisma.oidcPayload.update({ where: { model_id: { model: row.model, id: row.id } }, data: { payload: JSON.stringify(payload) } });
    }
  }

  it('sends a stale sign-in to sign in again before adding or removing a passkey', async () => {
    const email = nextEmail();
    const { browser } = await signInToApp(email);
    const user = (await db().prisma.user.findUnique({ where: { email } }))!;
    await ageSignIns(user.id, 600);
    // The account page signs in silently on the app's session, ten minutes old.
    const page = await browser.follow(`${t.issuer}/account`, t.issuer);
    expect(page.url).toBe(`${t.issuer}/account`);
    const me = { browser, page, csrf: csrfOf(page.html) };
    const stale = [401, '{"error":"login_required","error_description":"Sign in again to add a passkey.","sign_in":"/account/sign-in-again"}'];
    const options = await postJson(me, t, '/account/passkeys/options', {});
    expect([options.status, options.html]).toEqual(stale);
    const finish = await postJson(me, t, '/account/passkeys', { handle: 'h', response: {} });
    expect([finish.status, finish.html]).toEqual(stale);

    const own = await insertPasskey(db(), {
      id: 'own-passkey-id',
      userId: user.id,
      publicKey: 'x',
      counter: 0,
      transports: [],
      deviceType: 'singleDevice',
      backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'Phone',
    });
    const remove = await browser.request(`${t.issuer}/account/passkeys/remove`, { form: { csrf: me.csrf, id: own.id } });
    expect(remove.status).toBe(303);
    const to = new URL(remove.headers.get('location')!);
    expect([to.pathname, to.searchParams.get('max_age'), to.searchParams.get('client_id')]).toEqual(['/authorize', '300', 'sesame-account-page']);
    expect(await db().prisma.passkey.count({ where: { userId: user.id } })).toBe(1);

    // Signing in again asks for a code (not silently back), then the passkey may be added.
    const again = await browser.follow(`${t.issuer}/account/sign-in-again`, t.issuer);
    expect(again.url).toMatch(new RegExp(`^${t.issuer}/interaction/`));
    const codePage = await browser.submit(again, '/email', { email }, t.issuer);
    const fresh = await browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.issuer);
    expect(fresh.url).toBe(`${t.issuer}/account?done=signed_in_again`);
    expect(mainOf(fresh.html)).toContain('<p class="message notice" role="status">You signed in again. You can add a passkey now.</p>');
    const now = await postJson({ ...me, csrf: csrfOf(fresh.html) }, t, '/account/passkeys/options', {});
    expect(now.status).toBe(200);
  });

  it('signs out the other sessions, with their refresh tokens, and keeps this one', async () => {
    const email = nextEmail();
    const other = await signInToApp(email);
    const sent = Date.now();
    const otherAccount = await other.browser.follow(`${t.issuer}/account`, t.issuer);
    expect(otherAccount.url).toBe(`${t.issuer}/account`);
    // The configured one-second cooldown between codes to one address, not a guess at timing.
    await waitFor(() => Date.now() > sent + 1000);
    const me = await signInToAccount(t, email);
    expect(mainOf(me.page.html)).toContain('<p>Other signed-in browsers: 1.</p>');

    const ended = await me.browser.request(`${t.issuer}/account/sessions/end-others`, { form: { csrf: me.csrf } });
    expect([ended.status, ended.headers.get('location')]).toEqual([303, '/account?done=sessions_ended']);
    expect(await nextNotice(t, email)).toMatchObject({
      subject: 'Your other Sesame sessions were signed out',
      text: expect.stringMatching(/^Your Sesame account was signed out everywhere else \(1 sessions\)\./),
    });
    // The other browser is signed out of the account page and of Sesame; the app's refresh token is dead.
    const gone = await other.browser.follow(`${t.issuer}/account`, t.issuer);
    expect(gone.url).toMatch(new RegExp(`^${t.issuer}/interaction/`));
    expect(gone.html).toContain('<h1>Sign in</h1>');
    await expect(oidc.refreshTokenGrant(other.config, other.refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
    // This one stays.
    const still = await me.browser.request(`${t.issuer}/account?done=sessions_ended`);
    expect(still.status).toBe(200);
    expect(mainOf(still.html)).toContain('<p class="message notice" role="status">Your other sessions were signed out.</p>');
    expect(mainOf(still.html)).toContain('<p>You are not signed in anywhere else.</p>');
  });

  it('limits the changes of one user per hour', async () => {
    const email = nextEmail();
    const me = await signInToAccount(t, email);
    for (let i = 1; i <= 10; i++) {
      const saved = await me.browser.request(`${t.issuer}/account/name`, { form: { csrf: me.csrf, name: `Name ${i}` } });
      expect(saved.status).toBe(303);
    }
    const refused = await me.browser.request(`${t.issuer}/account/name`, { form: { csrf: me.csrf, name: 'Name 11' }, headers: { accept: 'application/json' } });
    expect([refused.status, refused.headers.get('retry-after'), refused.html]).toEqual([
      429,
      '3600',
      '{"error":"too_many_requests","error_description":"Too many changes to this account. Try again later."}',
    ]);
    expect((await db().prisma.user.findUnique({ where: { email } }))!.name).toBe('Name 10');
    // Another user is not affected.
    const other = await signInToAccount(t, nextEmail());
    const fine = await other.browser.request(`${t.issuer}/account/name`, { form: { csrf: other.csrf, name: 'Grace' } });
    expect(fine.status).toBe(303);
  });
});
