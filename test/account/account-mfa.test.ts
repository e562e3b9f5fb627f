// Two-step verification on the account page over HTTP, as a browser without JavaScript, on both
// engines: adding an authenticator app (the secret read from the page, the code computed from it as
// an app would), recovery codes shown once and made anew (the old ones stop working), removing a
// factor, each confirmed by email and audited; and the attacks: another user's authenticator id, a
// stale sign-in, no or a foreign CSRF token. The `always` policy's rule: account-mfa-policy.test.ts.
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFactorCode } from '../../src/passwordless/mfa/factors.js';
import { enrolOob } from '../../src/passwordless/mfa/oob.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import { authorizationRequest } from '../helpers/authorization.js';
import { rpConfig } from '../helpers/login.js';
import type { TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { APP, CHROME_ON_LINUX, csrfOf, mainOf, nextNotice, signInToAccount, startAccountSesame, type SignedIn } from './account-helpers.js';

const WHO = { ip: '127.0.0.1' };
const JSON_ACCEPT = { accept: 'application/json' };
const codeNow = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret) }).generate();
const secretOf = (html: string) => /<code id="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(html)![1]!.replace(/ /g, '');
const codesOf = (html: string) => [...html.matchAll(/<li><code>([0-9A-Z-]+)<\/code><\/li>/g)].map((m) => m[1]!);
/** The page's <main> with authenticator ids (raw or URL-encoded) replaced too. */
const shown = (html: string) => mainOf(html.replace(/(totp|sms|email|recovery-code)(%7C|\|)dev_[\w-]+/g, '$1|ID'));

describe.each(ENGINES)('two-step verification on the account page on %s', (engine) => {
  let t: TestSesame;
  let n = 0;
  const nextEmail = () => `mfa${++n}@example.com`;
  beforeAll(async () => {
    // One second between two codes to one address: the stale-session test signs in twice.
    t = await startAccountSesame(engine, { clients: [APP], codes: { resendCooldown: 1 } });
  });
  afterAll(() => t?.stop());
  const s = () => t.sesame.services;
  const form = (me: SignedIn, path: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    me.browser.request(`${t.issuer}${path}`, { form: { csrf: me.csrf, ...fields }, headers });
  const userIdOf = async (email: string) => (await s().db.prisma.user.findUnique({ where: { email } }))!.id;
  const factorIds = async (userId: string) =>
    (await s().db.prisma.authenticator.findMany({ where: { userId }, orderBy: { createdAt: 'asc' } })).map((a) => `${a.type}:${a.confirmed}`);

  /** An authenticator app and recovery codes made through the domain (as the hosted enrolment would). */
  async function seedFactors(userId: string) {
    const app = await enrolTotp(s(), userId);
    expect(await checkFactorCode(s(), userId, { type: 'otp', code: codeNow(app.secret), confirming: app.authenticatorId }, WHO)).toMatchObject({ ok: true });
    const recovery = await generateRecoveryCodes(s(), userId);
    return { app, recovery };
  }

  it('adds an authenticator app with the code computed from the shown secret; the first brings recovery codes, shown once', async () => {
    const email = nextEmail();
    const me = await signInToAccount(t, email);
    const userId = await userIdOf(email);
    expect(shown(me.page.html)).toContain(
      '<h2 id="mfa-heading">Two-step verification</h2> <p>You have no second step yet. An authenticator app on your phone makes your account harder to take over.</p>' +
        ' <form method="post" action="/account/mfa/totp/start"> <input type="hidden" name="csrf" value="CSRF"> <button type="submit" class="secondary-button">Add an authenticator app</button> </form>' +
        ' <h2 id="signins-heading">',
    );
    const enrolment = await form(me, '/account/mfa/totp/start');
    expect(enrolment.status).toBe(200);
    const secret = secretOf(enrolment.html);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(
      shown(enrolment.html)
        .replace(/<svg[^>]*>.*<\/svg>/, 'QR')
        .replace(/[A-Z2-7]{4}( [A-Z2-7]{4}){7}/, 'KEY'),
    ).toBe(
      '<p class="brand">Sesame</p> <h1>Add an authenticator app</h1> <p class="lead">Scan this QR code with your authenticator app, then enter the 6-digit code it shows.</p>' +
        ' <div class="qr" role="img" aria-label="QR code for your authenticator app">QR</div> <p>Cannot scan it? Type this key into the app instead:</p> <p><code id="totp-secret">KEY</code></p>' +
        ' <form method="post" action="/account/mfa/totp"> <input type="hidden" name="csrf" value="CSRF"> <input type="hidden" name="id" value="ID|ID">' +
        ' <label for="code">6-digit code from the app</label> <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="7" required>' +
        ' <button type="submit" class="primary">Confirm</button> </form> <p><a href="/account">Cancel and go back</a></p>',
    );
    expect(enrolment.html).not.toMatch(/<script(?! src=)/);
    const id = findForm(enrolment.html, '/account/mfa/totp').fields.id!;
    expect(await factorIds(userId)).toEqual(['totp:false']);

    // A wrong code shows the same key again, with one message.
    const wrong = await form(me, '/account/mfa/totp', { id, code: '000000' });
    expect([wrong.status, secretOf(wrong.html)]).toEqual([400, secret]);
    expect(mainOf(wrong.html)).toContain('<p class="message error" role="alert" id="form-error">That code did not match. Enter the code the app shows now.</p>');
    expect(mainOf(wrong.html)).toContain('aria-invalid="true" aria-describedby="form-error" autofocus>');

    const code = codeNow(secret);
    const added = await form(me, '/account/mfa/totp', { id, code: `${code.slice(0, 3)} ${code.slice(3)}` });
    expect(added.status).toBe(200);
    const codes = codesOf(added.html);
    expect(codes).toHaveLength(10);
    for (const c of codes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(mainOf(added.html).replace(/<li><code>[\w-]+<\/code><\/li>/g, 'C')).toBe(
      '<p class="brand">Sesame</p> <h1>Your recovery codes</h1> <p class="message notice" role="status">Your authenticator app was added.</p>' +
        ' <p class="lead">If you lose your phone, each of these codes lets you sign in once. Save them somewhere safe, such as a password manager.</p>' +
        ` <ul class="recovery-codes" aria-label="Your recovery codes"> ${Array(10).fill('C').join(' ')} </ul>` +
        ' <p>They are shown only now. Any older recovery codes no longer work.</p> <p><a href="/account">I saved them, back to my account</a></p>',
    );
    expect(added.headers.get('cache-control')).toBe('no-store');
    expect(await nextNotice(t, email)).toEqual({
      subject: 'A second step was added to your Sesame account',
      text: `“Authenticator app” now confirms sign-ins to your Sesame account.\r\n\r\nDone from Chrome on Linux, IP address 127.0.0.1.\r\n\r\nIf this was not you, sign in and check your account now.\r\n${t.issuer}/account`,
    });

    // The page lists both, never a code again; the app's code was used, a recovery code works once.
    const page = await me.browser.request(`${t.issuer}/account`);
    expect(shown(page.html)).toContain(
      '<h2 id="mfa-heading">Two-step verification</h2> <p>After signing in, you confirm it is you with one of these:</p> <ul class="items" aria-labelledby="mfa-heading">' +
        ' <li> <p class="item-title">Authenticator app</p> <p class="hint">Added TIME. Last used TIME.</p> <p><a href="/account/mfa/remove?id=ID|ID">Remove: Authenticator app</a></p> </li>' +
        ' <li> <p class="item-title">Recovery codes</p> <p class="hint">10 of 10 left. Added TIME. Not used yet.</p> <p><a href="/account/mfa/remove?id=ID|ID">Remove: Recovery codes</a></p> </li> </ul>' +
        ' <form method="post" action="/account/mfa/recovery-codes"> <input type="hidden" name="csrf" value="CSRF"> <button type="submit" class="secondary-button">Get new recovery codes</button> </form>' +
        ' <h2 id="signins-heading">',
    );
    expect(page.html).toContain(`/account/mfa/remove?id=${encodeURIComponent(findForm(enrolment.html, '/account/mfa/totp').fields.id!)}"`);
    for (const c of codes) expect(page.html).not.toContain(c);
    expect(await checkFactorCode(s(), userId, { type: 'otp', code }, WHO)).toEqual({ ok: false, reason: 'replayed' });
    expect(await checkFactorCode(s(), userId, { type: 'recovery-code', code: codes[3]! }, WHO)).toMatchObject({ ok: true });
    expect(await checkFactorCode(s(), userId, { type: 'recovery-code', code: codes[3]! }, WHO)).toEqual({ ok: false, reason: 'wrong' });
    const audit = await s().db.prisma.auditEvent.findMany({ where: { userId, type: { in: ['account.mfa_added', 'mfa.verified'] } }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.type, a.reason, a.clientId])).toEqual([
      ['mfa.verified', 'otp:enrolled', 'sesame-account-page'],
      ['account.mfa_added', 'Authenticator app', null],
      ['mfa.verified', 'recovery-code', null],
    ]);
  });

  it('puts wrong first codes behind the failure budget of codes: a delay, during which even the right code waits', async () => {
    const me = await signInToAccount(t, nextEmail());
    const enrolment = await form(me, '/account/mfa/totp/start');
    const id = findForm(enrolment.html, '/account/mfa/totp').fields.id!;
    let answer = enrolment;
    for (let tries = 0; tries < 20 && !answer.html.includes('Too many wrong codes'); tries++) answer = await form(me, '/account/mfa/totp', { id, code: '000000' });
    expect(answer.status).toBe(400);
    expect(mainOf(answer.html)).toMatch(/<p class="message error" role="alert" id="form-error">Too many wrong codes\. Wait \d+ seconds, then try again\.<\/p>/);
    const right = await form(me, '/account/mfa/totp', { id, code: codeNow(secretOf(enrolment.html)) });
    expect(right.status).toBe(400);
    expect(mainOf(right.html)).toContain('Too many wrong codes.');
    expect(await s().db.prisma.authenticator.count({ where: { id, confirmed: false } })).toBe(1);
  });

  it('makes new recovery codes, shown once: the old ones stop working; refused without a second factor', async () => {
    const email = nextEmail();
    const me = await signInToAccount(t, email);
    const userId = await userIdOf(email);
    const refused = await form(me, '/account/mfa/recovery-codes');
    expect(refused.status).toBe(400);
    expect(mainOf(refused.html)).toContain('<p class="message error" role="alert" id="form-error">Recovery codes come with a second step. Add an authenticator app first.</p>');
    expect(await s().db.prisma.recoveryCode.count({ where: { userId } })).toBe(0);

    const { recovery } = await seedFactors(userId);
    const again = await form(me, '/account/mfa/recovery-codes');
    expect(again.status).toBe(200);
    expect(mainOf(again.html)).toContain('<p class="message notice" role="status">New recovery codes were made.</p>');
    const fresh = codesOf(again.html);
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((c) => recovery.codes.includes(c))).toEqual([]);
    expect(await checkFactorCode(s(), userId, { type: 'recovery-code', code: recovery.codes[0]! }, WHO)).toEqual({ ok: false, reason: 'wrong' });
    expect(await checkFactorCode(s(), userId, { type: 'recovery-code', code: fresh[0]! }, WHO)).toMatchObject({ ok: true });
    expect(await nextNotice(t, email)).toMatchObject({
      subject: 'New recovery codes for your Sesame account',
      text: expect.stringMatching(/^New recovery codes were made for your Sesame account\. The earlier ones no longer work\.\r\n/),
    });
    const listed = await me.browser.request(`${t.issuer}/account`);
    expect(mainOf(listed.html)).toContain('<p class="hint">9 of 10 left. Added TIME. Last used TIME.</p>');
  });

  it('removes a factor after asking, confirmed by email and audited; recovery codes go with theirs', async () => {
    const email = nextEmail();
    const me = await signInToAccount(t, email);
    const userId = await userIdOf(email);
    const { app, recovery } = await seedFactors(userId);
    const confirm = await me.browser.request(`${t.issuer}/account/mfa/remove?id=${encodeURIComponent(app.authenticatorId)}`);
    expect([confirm.status, shown(confirm.html)]).toEqual([
      200,
      '<p class="brand">Sesame</p> <h1>Remove this second step?</h1> <p class="lead">“Authenticator app” will no longer confirm your sign-ins.</p>' +
        ' <form method="post" action="/account/mfa/remove"> <input type="hidden" name="csrf" value="CSRF"> <input type="hidden" name="id" value="ID|ID">' +
        ' <button type="submit" class="primary">Remove</button> </form> <p><a href="/account">Keep it and go back</a></p>',
    ]);
    const removed = await form(me, '/account/mfa/remove', { id: app.authenticatorId });
    expect([removed.status, removed.headers.get('location')]).toEqual([303, '/account?done=mfa_removed']);
    expect(await factorIds(userId)).toEqual(['recovery-code:true']);
    expect(await nextNotice(t, email)).toMatchObject({
      subject: 'A second step was removed from your Sesame account',
      text: expect.stringMatching(/^“Authenticator app” no longer confirms sign-ins to your Sesame account\.\r\n/),
    });
    const after = await me.browser.request(`${t.issuer}/account?done=mfa_removed`);
    expect(mainOf(after.html)).toContain('<p class="message notice" role="status">The second step was removed.</p>');
    // Recovery codes alone are no second step: no new ones offered, but they may go.
    expect(after.html).not.toContain('action="/account/mfa/recovery-codes"');
    expect(after.html).toContain('action="/account/mfa/totp/start"');
    const confirmCodes = await me.browser.request(`${t.issuer}/account/mfa/remove?id=${encodeURIComponent(recovery.authenticatorId)}`);
    expect(mainOf(confirmCodes.html)).toContain('<p class="lead">Your recovery codes will stop working. You can get new ones later.</p>');
    expect((await form(me, '/account/mfa/remove', { id: recovery.authenticatorId })).status).toBe(303);
    expect([await factorIds(userId), await s().db.prisma.recoveryCode.count({ where: { userId } })]).toEqual([[], 0]);
    const audit = await s().db.prisma.auditEvent.findMany({ where: { userId, type: { in: ['account.mfa_removed', 'mfa.removed'] } }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.type, a.reason])).toEqual([
      ['mfa.removed', 'totp'],
      ['account.mfa_removed', 'Authenticator app'],
      ['mfa.removed', 'recovery-code'],
      ['account.mfa_removed', 'Recovery codes'],
    ]);
  });

  it("refuses another user's authenticator ids (removal, its confirmation, a pending enrolment) and changes nothing", async () => {
    const victimEmail = nextEmail();
    await signInToAccount(t, victimEmail);
    const victimId = await userIdOf(victimEmail);
    const { app } = await seedFactors(victimId);
    const pending = await enrolOob(s(), victimId, { type: 'email', email: 'victim.backup@example.com' });
    const attacker = await signInToAccount(t, nextEmail());
    const notFound = (description: string) => [404, JSON.stringify({ error: 'not_found', error_description: description })];
    const remove = await form(attacker, '/account/mfa/remove', { id: app.authenticatorId }, JSON_ACCEPT);
    expect([remove.status, remove.html]).toEqual(notFound('You have no such second factor.'));
    const confirm = await attacker.browser.request(`${t.issuer}/account/mfa/remove?id=${encodeURIComponent(app.authenticatorId)}`, { headers: JSON_ACCEPT });
    expect([confirm.status, confirm.html]).toEqual(notFound('You have no such second factor.'));
    // Another user's unfinished enrolment cannot be finished from this account.
    const victimApp = await enrolTotp(s(), (await upsertVerifiedEmailUser(s().db, 'other-victim@example.com')).id);
    const enrol = await form(attacker, '/account/mfa/totp', { id: victimApp.authenticatorId, code: codeNow(victimApp.secret) }, JSON_ACCEPT);
    expect([enrol.status, enrol.html]).toEqual(notFound('You have no such authenticator app being added.'));
    // Unconfirmed factors and odd ids name nothing either, never a 500.
    for (const id of [pending.id, 'totp|dev_', 'x'.repeat(500), 'totp|dev_a\u0000b', '']) {
      const odd = await form(attacker, '/account/mfa/remove', { id }, JSON_ACCEPT);
      expect([id, odd.status, odd.html]).toEqual([id, ...notFound('You have no such second factor.')]);
    }
    expect(await factorIds(victimId)).toEqual(['totp:true', 'recovery-code:true', 'email:false']);
    expect(await s().db.prisma.authenticator.count({ where: { id: victimApp.authenticatorId, confirmed: false } })).toBe(1);
    expect(t.mail.to(victimEmail)).toHaveLength(1);
  });

  it("refuses the POSTs without a session, without the CSRF token or with another session's", async () => {
    const me = await signInToAccount(t, nextEmail());
    const other = await signInToAccount(t, nextEmail());
    const csrfError = [403, '{"error":"csrf","error_description":"This form has expired. Reload the page and try again."}'];
    for (const path of ['/account/mfa/totp/start', '/account/mfa/totp', '/account/mfa/recovery-codes', '/account/mfa/remove']) {
      const anonymous = await new FormClient().request(`${t.issuer}${path}`, { form: { id: 'x' }, headers: JSON_ACCEPT });
      expect([path, anonymous.status, anonymous.html]).toEqual([path, 401, '{"error":"unauthorized","error_description":"Sign in to your account first."}']);
      for (const csrf of [undefined, other.csrf]) {
        const answer = await me.browser.request(`${t.issuer}${path}`, { method: 'POST', form: { id: 'x', ...(csrf && { csrf }) }, headers: JSON_ACCEPT });
        expect([path, answer.status, answer.html]).toEqual([path, ...csrfError]);
      }
    }
    expect(await s().db.prisma.authenticator.count({ where: { userId: await userIdOf(`mfa${n - 1}@example.com`) } })).toBe(0);
  });

  it('sends a stale sign-in to sign in again before adding, renewing or removing a factor', async () => {
    const email = nextEmail();
    const browser = new FormClient({ 'user-agent': CHROME_ON_LINUX });
    // Signed in to an app ten minutes ago; the account page signs in silently on that session.
    const config = await rpConfig(t, 'app', APP.client_secret);
    const request = await authorizationRequest(config, { redirect_uri: APP.redirect_uris[0]!, scope: 'openid' });
    const codePage = await browser.submit(await browser.follow(request.url.toString(), t.issuer), '/email', { email }, t.issuer);
    const sent = Date.now();
    await browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.issuer);
    const userId = await userIdOf(email);
    for (const row of await s().db.prisma.oidcPayload.findMany({ where: { model: 'Session', accountId: userId } })) {
      const payload = JSON.parse(row.payload) as { loginTs: number };
      payload.loginTs -= 600;
      await s().db.prisma.oidcPayload.update({ where: { model_id: { model: row.model, id: row.id } }, data: { payload: JSON.stringify(payload) } });
    }
    const page = await browser.follow(`${t.issuer}/account`, t.issuer);
    expect(page.url).toBe(`${t.issuer}/account`);
    const me = { browser, page, csrf: csrfOf(page.html) };
    const { app } = await seedFactors(userId);
    const before = await factorIds(userId);
    const codesBefore = await s().db.prisma.recoveryCode.findMany({ where: { userId }, select: { id: true } });

    const toSignIn = async (answer: { status: number; headers: Headers }) => {
      expect(answer.status).toBe(303);
      const to = new URL(answer.headers.get('location')!);
      return [to.pathname, to.searchParams.get('max_age'), to.searchParams.get('client_id')];
    };
    const again = ['/authorize', '300', 'sesame-account-page'];
    expect(await toSignIn(await form(me, '/account/mfa/totp/start'))).toEqual(again);
    expect(await toSignIn(await form(me, '/account/mfa/recovery-codes'))).toEqual(again);
    expect(await toSignIn(await form(me, '/account/mfa/remove', { id: app.authenticatorId }))).toEqual(again);
    expect(await toSignIn(await me.browser.request(`${t.issuer}/account/mfa/remove?id=${encodeURIComponent(app.authenticatorId)}`))).toEqual(again);
    expect(await factorIds(userId)).toEqual(before);
    expect(await s().db.prisma.recoveryCode.findMany({ where: { userId }, select: { id: true } })).toEqual(codesBefore);

    // Signing in again (a code, not silently) comes back to the removal, which then goes through.
    // The configured one-second cooldown between codes to one address, not a guess at timing.
    await waitFor(() => Date.now() > sent + 1000);
    const signIn = await browser.follow(`${t.issuer}/account/mfa/remove?id=${encodeURIComponent(app.authenticatorId)}`, t.issuer);
    expect(signIn.url).toMatch(new RegExp(`^${t.issuer}/interaction/`));
    const code = await browser.submit(signIn, '/email', { email }, t.issuer);
    const confirm = await browser.submit(code, '/code', { code: codeFrom(await t.mail.next(email)) }, t.issuer);
    expect(confirm.url).toBe(`${t.issuer}/account/mfa/remove?id=${encodeURIComponent(app.authenticatorId)}`);
    const done = await browser.submit(confirm, '/account/mfa/remove', {}, t.issuer);
    expect(done.url).toBe(`${t.issuer}/account?done=mfa_removed`);
    expect(await factorIds(userId)).toEqual(['recovery-code:true']);
  });
});
