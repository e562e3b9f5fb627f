// The account page over HTTP, as a browser without JavaScript (and the add-a-passkey script's JSON
// calls, answered by a software authenticator), on both engines: what it shows, every change with
// its confirmation email, and the attacks (no session, no or a foreign CSRF token, another user's
// passkey, a stale sign-in, a forged callback).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import type { TestSesame } from '../helpers/sesame.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import { codeFrom } from '../helpers/smtp.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { APP, CHROME_ON_LINUX, mainOf, nextNotice, postJson, signInToAccount, startAccountSesame, type SignedIn } from './account-helpers.js';

const VIRTUAL = '01020304-0506-0708-0102-030405060708';

describe.each(ENGINES)('account page on %s', (engine) => {
  let t: TestSesame;
  let n = 0;
  const nextEmail = () => `account${++n}@example.com`;
  beforeAll(async () => {
    t = await startAccountSesame(engine, { clients: [APP] });
  });
  afterAll(() => t?.stop());

  async function addPasskey(me: SignedIn, device = new SoftAuthenticator({ origin: t.issuer, aaguid: VIRTUAL })) {
    const started = await postJson(me, t, '/account/passkeys/options', {});
    expect(started.status).toBe(200);
    const { handle, options } = JSON.parse(started.html) as { handle: string; options: Parameters<SoftAuthenticator['register']>[0] };
    expect(options.authenticatorSelection).toEqual({ residentKey: 'required', userVerification: 'required', requireResidentKey: true });
    const added = await postJson(me, t, '/account/passkeys', { handle, response: device.register(options) });
    expect([added.status, added.html]).toEqual([200, '{"ok":true,"location":"/account?done=passkey_added"}']);
    return device;
  }

  const form = (me: SignedIn, path: string, fields: Record<string, string>) => me.browser.request(`${t.issuer}${path}`, { form: { csrf: me.csrf, ...fields } });
  async function ids(email: string) {
    const user = await t.sesame.services.db.prisma.user.findUnique({ where: { email } });
    return (await t.sesame.services.db.prisma.passkey.findMany({ where: { userId: user!.id }, orderBy: { createdAt: 'asc' } })).map((p) => ({ id: p.id, name: p.name }));
  }

  it('sends an unsigned-in GET to sign in, and refuses an unsigned-in POST', async () => {
    const browser = new FormClient();
    const page = await browser.request(`${t.issuer}/account`);
    expect(page.status).toBe(303);
    const to = new URL(page.headers.get('location')!);
    expect(`${to.origin}${to.pathname}`).toBe(`${t.issuer}/authorize`);
    expect(Object.fromEntries(to.searchParams)).toEqual({
      client_id: 'sesame-account-page',
      response_type: 'code',
      redirect_uri: `${t.issuer}/account/callback`,
      scope: 'openid',
      state: expect.stringMatching(/^[\w-]{24}$/),
      code_challenge: expect.stringMatching(/^[\w-]{43}$/),
      code_challenge_method: 'S256',
    });
    for (const path of ['/account/name', '/account/passkeys/rename', '/account/passkeys/remove', '/account/sessions/end-others']) {
      const refused = await browser.request(`${t.issuer}${path}`, { form: { name: 'Mallory', id: 'x' }, headers: { accept: 'application/json' } });
      expect([refused.status, refused.html]).toEqual([401, '{"error":"unauthorized","error_description":"Sign in to your account first."}']);
    }
    const options = await browser.request(`${t.issuer}/account/passkeys/options`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(options.status).toBe(401);
    expect(options.html).toContain('Sign in to your account first.');
  });

  it('shows who is signed in, the recent sign-ins and sessions; sets the name, confirmed by email', async () => {
    const email = nextEmail();
    const me = await signInToAccount(t, email);
    expect(mainOf(me.page.html)).toContain(`<h1>Your account</h1> <p class="lead">Signed in as ${email}</p>`);
    expect(mainOf(me.page.html)).toContain(
      '<h2 id="signins-heading">Recent sign-ins</h2> <ul class="items" aria-labelledby="signins-heading"> <li>TIME: code by email, Chrome on Linux, from 127.0.0.1</li> </ul>' +
        ' <h2 id="sessions-heading">Other sessions</h2> <p>You are not signed in anywhere else.</p>',
    );
    const saved = await form(me, '/account/name', { name: '  Ada Lovelace ' });
    expect([saved.status, saved.headers.get('location')]).toEqual([303, '/account?done=name_changed']);
    expect(await nextNotice(t, email)).toEqual({
      subject: 'Your Sesame name was changed',
      text: `The name of your Sesame account is now “Ada Lovelace”.\r\n\r\nDone from Chrome on Linux, IP address 127.0.0.1.\r\n\r\nIf this was not you, sign in and check your account now.\r\n${t.issuer}/account`,
    });
    const after = await me.browser.request(`${t.issuer}/account?done=name_changed`);
    expect(mainOf(after.html)).toContain('<p class="message notice" role="status">Your name was saved.</p>');
    expect(mainOf(after.html)).toContain('<input id="name" name="name" type="text" autocomplete="name" maxlength="100" value="Ada Lovelace">');
    const bad = await form(me, '/account/name', { name: 'a\u202Eb' });
    expect(bad.status).toBe(400);
    expect(mainOf(bad.html)).toContain('<p class="message error" role="alert" id="form-error">');
    const audit = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'account.name_changed' } });
    expect(audit.map((a) => [a.reason, a.ip, a.userAgent])).toEqual([['Ada Lovelace', '127.0.0.1', CHROME_ON_LINUX]]);
  });

  it('adds, lists, renames and removes passkeys (the last one too), each confirmed by email', async () => {
    const email = nextEmail();
    const me = await signInToAccount(t, email);
    await addPasskey(me);
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'A passkey was added to your Sesame account' });
    const [passkey] = await ids(email);
    const list = await me.browser.request(`${t.issuer}/account?done=passkey_added`);
    expect(mainOf(list.html)).toContain(
      '<li> <p class="item-title">Virtual authenticator</p> <p class="hint">Added TIME. Not used yet. On one device only.</p>' +
        ' <form method="post" action="/account/passkeys/rename" class="inline"> <input type="hidden" name="csrf" value="CSRF"> <input type="hidden" name="id" value="ID">' +
        ' <label for="passkey-name-0">Name of this passkey</label> <input id="passkey-name-0" name="name" type="text" maxlength="64" value="Virtual authenticator">' +
        ' <button type="submit" class="link">Rename</button> </form> <p><a href="/account/passkeys/remove?id=ID">Remove this passkey</a></p> </li>',
    );
    const renamed = await form(me, '/account/passkeys/rename', { id: passkey!.id, name: 'Work laptop' });
    expect([renamed.status, renamed.headers.get('location')]).toEqual([303, '/account?done=passkey_renamed']);
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'A passkey of your Sesame account was renamed' });
    expect(await ids(email)).toEqual([{ id: passkey!.id, name: 'Work laptop' }]);

    const confirm = await me.browser.request(`${t.issuer}/account/passkeys/remove?id=${passkey!.id}`);
    expect(mainOf(confirm.html)).toBe(
      '<p class="brand">Sesame</p> <h1>Remove this passkey?</h1> <p class="lead">“Work laptop” will no longer sign you in. You can still sign in with a code sent to you.</p>' +
        ' <form method="post" action="/account/passkeys/remove"> <input type="hidden" name="csrf" value="CSRF"> <input type="hidden" name="id" value="ID">' +
        ' <button type="submit" class="primary">Remove passkey</button> </form> <p><a href="/account">Keep it and go back</a></p>',
    );
    const removed = await form(me, '/account/passkeys/remove', { id: passkey!.id });
    expect([removed.status, removed.headers.get('location')]).toEqual([303, '/account?done=passkey_removed']);
    expect(await ids(email)).toEqual([]);
    expect(await nextNotice(t, email)).toMatchObject({ subject: 'A passkey was removed from your Sesame account' });
    const types = (await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: { startsWith: 'account.passkey' } }, orderBy: { createdAt: 'asc' } })).map((a) => [
      a.type,
      a.reason,
    ]);
    expect(types).toEqual(
      expect.arrayContaining([
        ['account.passkey_added', 'Virtual authenticator'],
        ['account.passkey_renamed', 'Work laptop'],
        ['account.passkey_removed', 'Work laptop'],
      ]),
    );
  });

  it("refuses another user's passkey in rename and remove, and changes nothing", async () => {
    const victimEmail = nextEmail();
    const victim = await signInToAccount(t, victimEmail);
    await addPasskey(victim);
    await nextNotice(t, victimEmail);
    const [theirs] = await ids(victimEmail);
    const attacker = await signInToAccount(t, nextEmail());
    const json = { accept: 'application/json' };
    const notFound = [404, '{"error":"not_found","error_description":"You have no such passkey."}'];
    const rename = await attacker.browser.request(`${t.issuer}/account/passkeys/rename`, { form: { csrf: attacker.csrf, id: theirs!.id, name: 'pwned' }, headers: json });
    expect([rename.status, rename.html]).toEqual(notFound);
    const remove = await attacker.browser.request(`${t.issuer}/account/passkeys/remove`, { form: { csrf: attacker.csrf, id: theirs!.id }, headers: json });
    expect([remove.status, remove.html]).toEqual(notFound);
    const confirm = await attacker.browser.request(`${t.issuer}/account/passkeys/remove?id=${theirs!.id}`, { headers: json });
    expect([confirm.status, confirm.html]).toEqual(notFound);
    expect(await ids(victimEmail)).toEqual([theirs]);
    expect(t.mail.to(victimEmail)).toHaveLength(2);
  });

  it("refuses a POST without the CSRF token or with another session's", async () => {
    const email = nextEmail();
    const me = await signInToAccount(t, email);
    const other = await signInToAccount(t, nextEmail());
    const json = { accept: 'application/json' };
    const csrfError = [403, '{"error":"csrf","error_description":"This form has expired. Reload the page and try again."}'];
    for (const csrf of [undefined, other.csrf]) {
      const fields: Record<string, string> = { name: 'Mallory', ...(csrf && { csrf }) };
      const answer = await me.browser.request(`${t.issuer}/account/name`, { method: 'POST', form: fields, headers: json });
      expect([answer.status, answer.html]).toEqual(csrfError);
      const ended = await me.browser.request(`${t.issuer}/account/sessions/end-others`, { method: 'POST', form: csrf ? { csrf } : {}, headers: json });
      expect([ended.status, ended.html]).toEqual(csrfError);
      const options = await postJson(me, t, '/account/passkeys/options', {}, csrf ?? '');
      expect([options.status, options.html]).toEqual(csrfError);
    }
    const user = await t.sesame.services.db.prisma.user.findUnique({ where: { email } });
    expect(user!.name).toBeNull();
  });

  it('refuses a callback this browser did not start, and a callback used once already', async () => {
    const json = { accept: 'application/json' };
    const notStarted = [400, '{"error":"bad_request","error_description":"This sign-in was not started in this browser, or it already finished."}'];
    const forged = await new FormClient().request(`${t.issuer}/account/callback?code=abcdefghijklmnop&state=x`, { headers: json });
    expect([forged.status, forged.html]).toEqual(notStarted);

    const email = nextEmail();
    const browser = new FormClient();
    const codePage = await browser.submit(await browser.follow(`${t.issuer}/account`, t.issuer), '/email', { email }, t.issuer);
    const form = findForm(codePage.html, '/code');
    let hop = await browser.request(new URL(form.action, codePage.url).toString(), { form: { ...form.fields, code: codeFrom(await t.mail.next(email)) } });
    while (!hop.headers.get('location')!.includes('/account/callback?')) {
      hop = await browser.request(new URL(hop.headers.get('location')!, hop.url).toString());
    }
    const callback = new URL(hop.headers.get('location')!, hop.url).toString();
    const used = await browser.request(callback);
    expect([used.status, used.headers.get('location')]).toEqual([303, '/account']);
    // Again in the same browser, and in another that started a sign-in of its own (its state differs).
    const again = await browser.request(callback, { headers: json });
    expect([again.status, again.html]).toEqual(notStarted);
    const other = new FormClient();
    await other.request(`${t.issuer}/account`);
    const elsewhere = await other.request(callback, { headers: json });
    expect([elsewhere.status, elsewhere.html]).toEqual(notStarted);
  });
});
