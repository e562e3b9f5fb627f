// The hosted second-factor page (/interaction/:uid/mfa) without JavaScript, on both engines: users
// enrolled through the domain functions sign in with a code (email from the SMTP sink, SMS from the
// fake Twilio), then prove a second factor on the page: an authenticator app (codes computed by
// otpauth from the secret), a recovery code, an email or SMS code. And the attacks: a replayed TOTP
// code, guessing until delayed, a used recovery code, resuming by hand, another browser, the
// email factor after an email sign-in. The browser side (passkeys, axe) is test/browser/mfa-challenge.test.ts.
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin, type Started, exchangeCode } from '../helpers/login.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { startFakeTwilio, smsCode, type FakeTwilio } from '../helpers/fake-twilio.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { confirmedOob, confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { oidcFixture } from '../oidc/fixture.js';
import { MFA_ACR } from '../../src/oidc/acr.js';
import { removeFactor } from '../../src/passwordless/mfa/factors.js';
import { generateRecoveryCodes, useRecoveryCode } from '../../src/passwordless/mfa/recovery-codes.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser } from '../../src/storage/users.js';

const APP = oidcFixture.clients[0]!;
// The same app with the MFA policy `enrolled` (users with a second factor are challenged) and `always`.
const ENROLLED_APP = { ...APP, client_id: 'mfa-app', client_name: 'MFA App', mfa_policy: 'enrolled' };
const ALWAYS_APP = { ...APP, client_id: 'always-app', client_name: 'Always App', mfa_policy: 'always' };
const SIGNED_IN = /^http:\/\/127\.0\.0\.1:9\/cb\?code=/;
const HEADING = '<h1>Confirm it is you</h1>';
const alertOf = (html: string) => /role="alert" id="form-error"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
const uidOf = (page: Page) => /\/interaction\/([^/?]+)\/mfa/.exec(page.url)![1]!;
const linksOf = (html: string) => [...html.matchAll(/<li><a href="[^"]*\/mfa\?factor=([^"]*)">([^<]*)<\/a><\/li>/g)].map((m) => [decodeURIComponent(m[1]!), m[2]]);

describe.each(ENGINES)('hosted MFA challenge on %s', (engine) => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  let app: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    twilio = await startFakeTwilio();
    t = await startTestSesame(engine, {
      ...oidcFixture,
      clients: [...oidcFixture.clients, ENROLLED_APP, ALWAYS_APP],
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: twilio.provider() },
      ],
      codes: { resendCooldown: 1, freeFailures: 3 },
      mfa: { rememberBrowserDays: 30 },
    });
    app = await rpConfig(t, 'mfa-app', APP.client_secret);
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  const s = () => t.sesame.services;
  const nextEmail = () => `mfa${++n}-${engine}@example.com`;
  const nextPhone = () => `+1650253${String(1000 + ++n).slice(-4)}`;
  const who = { ip: '127.0.0.1' };

  /** A user with an authenticator app and recovery codes. */
  async function totpUser(email = nextEmail()) {
    const user = await upsertVerifiedEmailUser(s().db, email);
    const totp = await confirmedTotp(s(), user.id);
    const { authenticatorId: recoveryId, codes } = await generateRecoveryCodes(s(), user.id);
    return { user, email, ...totp, recoveryId, codes };
  }

  /** An email code sign-in up to what follows the code (the MFA page when the policy asks). */
  async function signIn(email: string, params: Record<string, string> = {}, browser = new FormClient(), config = app) {
    const started = await startLogin(t, config, { prompt: 'login', ...params }, browser);
    // One address signs in several times in a row here: past the one-second resend cooldown.
    const codePage = await waitFor(
      async () => {
        const page = await started.browser.submit(started.page, '/email', { email }, t.url);
        if (page.status !== 429) expect(page.status).toBe(200);
        return page.status === 200 && page;
      },
      { timeout: 10_000, interval: 200, what: 'the resend cooldown to pass' },
    );
    const code = codeFrom(await t.mail.next(email));
    return { started, page: await started.browser.submit(codePage, '/code', { code }, t.url) };
  }

  async function smsSignIn(phone: string) {
    const started = await startLogin(t, app, { prompt: 'login' });
    const codePage = await started.browser.submit(started.page, '/email', { identifier: phone }, t.url);
    expect(codePage.status).toBe(200);
    const code = smsCode(await twilio.next(phone));
    return { started, page: await started.browser.submit(codePage, '/code', { code }, t.url) };
  }

  async function claimsAt(started: Started, location: string | undefined, config = app) {
    expect(location).toMatch(SIGNED_IN);
    const tokens = await exchangeCode(config, started, location);
    return tokens.claims()!;
  }

  const enter = (at: { started: Started }, page: Page, code: string, extra: Record<string, string> = {}) => at.started.browser.submit(page, '/mfa', { code, ...extra }, t.url);

  it('challenges an enrolled user with the authenticator app after the email code; the ID token says both and MFA', async () => {
    const u = await totpUser();
    const at = await signIn(u.email);
    const uid = uidOf(at.page);
    expect([at.page.status, at.page.url]).toEqual([200, `${t.url}/interaction/${uid}/mfa`]);
    expect(at.page.html).toContain(HEADING);
    expect(at.page.html).toContain('<p class="lead">Enter the 6‑digit code your authenticator app shows for this account.</p>');
    expect(at.page.html).toContain(`<input type="hidden" name="factor" value="${u.authenticatorId}">`);
    expect(at.page.html).toContain('<label for="code">Code from your authenticator app</label>');
    expect(at.page.html).toMatch(
      /<input id="code" name="code" type="text" autocomplete="one-time-code" inputmode="numeric" pattern="\[0-9\]\*" maxlength="12" required autofocus aria-describedby="code-hint">/,
    );
    expect(at.page.html).toContain('<label for="remember">Remember this browser for 30 days</label>');
    // The other way: the recovery codes, last; no email factor (the user has none, and it would be the first factor's kind).
    expect(linksOf(at.page.html)).toEqual([[u.recoveryId, 'Use a recovery code']]);
    expect(at.page.html).not.toMatch(/<script(?![^>]*src=)/);
    expect(at.page.headers.get('cache-control')).toBe('no-store');

    const done = await enter(at, at.page, totpCode(u.secret));
    const claims = await claimsAt(at.started, done.location);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([u.user.id, ['email', 'otp', 'mfa'], MFA_ACR]);
    const audit = await s().db.prisma.auditEvent.findMany({ where: { type: 'mfa.verified', userId: u.user.id }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.reason, a.clientId])).toEqual([
      ['otp:enrolled', null],
      ['otp', 'mfa-app'],
    ]);
  });

  it('refuses a replayed TOTP code and a wrong one with the page again (400), then takes the next code', async () => {
    const u = await totpUser();
    const code = totpCode(u.secret);
    const first = await signIn(u.email);
    expect((await enter(first, first.page, code)).location).toMatch(SIGNED_IN);

    const again = await signIn(u.email);
    const replayed = await enter(again, again.page, code);
    expect([replayed.status, alertOf(replayed.html), replayed.url]).toEqual([
      400,
      'That code was already used. Wait for the next code in your authenticator app.',
      `${t.url}/interaction/${uidOf(again.page)}/mfa`,
    ]);
    expect(replayed.html).toContain(HEADING);
    expect(replayed.html).toContain('aria-invalid="true"');
    const wrong = await enter(again, replayed, String((Number(code) + 1) % 1_000_000).padStart(6, '0'));
    expect([wrong.status, alertOf(wrong.html)]).toEqual([400, 'That code is not right. Enter the code your authenticator app shows now.']);
    const empty = await enter(again, wrong, '  ');
    expect([empty.status, alertOf(empty.html)]).toEqual([400, 'Enter the digits of the code, like 123456.']);
    const claims = await claimsAt(again.started, (await enter(again, empty, totpCode(u.secret, 1))).location);
    expect(claims.amr).toEqual(['email', 'otp', 'mfa']);
  });

  it('delays wrong codes after the free ones (429 with Retry-After), even the right one', async () => {
    const u = await totpUser();
    const at = await signIn(u.email);
    let page = at.page;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      page = await enter(at, page, '000000');
      statuses.push(page.status);
    }
    // freeFailures is 3 here: the fourth wrong code is still answered, and starts the delay.
    expect(statuses).toEqual([400, 400, 400, 400, 429]);
    const seconds = Number(page.headers.get('retry-after'));
    expect(seconds).toBeGreaterThan(0);
    expect(alertOf(page.html)).toBe(`Too many wrong codes. Try again in ${seconds} s.`);
    // Even the right code waits out the delay, then signs in.
    const delayedAt = Date.now();
    const done = await waitFor(
      async () => {
        const tried = await enter(at, page, totpCode(u.secret));
        if (tried.status === 429) expect(alertOf(tried.html)).toMatch(/^Too many wrong codes\. Try again in \d+ s\.$/);
        return tried.status === 303 && tried;
      },
      { timeout: 20_000, interval: 250, what: 'the delay to pass' },
    );
    expect(Date.now() - delayedAt).toBeGreaterThanOrEqual((seconds - 1) * 1000);
    expect((await claimsAt(at.started, done.location)).amr).toEqual(['email', 'otp', 'mfa']);
  });

  it('takes a recovery code once, says how many are left, and warns when few remain', async () => {
    const u = await totpUser();
    const at = await signIn(u.email);
    const chosen = await at.started.browser.follow(`${t.url}/interaction/${uidOf(at.page)}/mfa?factor=${encodeURIComponent(u.recoveryId)}`, t.url);
    expect(chosen.html).toContain('<label for="code">Recovery code</label>');
    expect(chosen.html).toContain('autocomplete="off" autocapitalize="characters"');
    expect(linksOf(chosen.html)).toEqual([[u.authenticatorId, 'Use your authenticator app']]);
    const used = await enter(at, chosen, u.codes[0]!.toLowerCase());
    expect([used.status, used.html.match(/<h1>[^<]*<\/h1>/)?.[0], /<p class="lead">([^<]*)</.exec(used.html)?.[1]]).toEqual([
      200,
      '<h1>You used a recovery code</h1>',
      'Recovery codes left: 9.',
    ]);
    const next = /<a class="primary" href="([^"]+)">Continue<\/a>/.exec(used.html)![1]!;
    const claims = await claimsAt(at.started, (await at.started.browser.follow(new URL(next, t.url).toString(), t.url)).location);
    expect([claims.amr, claims.acr]).toEqual([['email', 'otp', 'rc', 'mfa'], MFA_ACR]);

    // The same code again: refused.
    const again = await signIn(u.email);
    const reuse = await enter(
      again,
      await again.started.browser.follow(`${t.url}/interaction/${uidOf(again.page)}/mfa?factor=${encodeURIComponent(u.recoveryId)}`, t.url),
      u.codes[0]!,
    );
    expect([reuse.status, alertOf(reuse.html)]).toEqual([400, 'That recovery code is not right, or it was already used.']);
    // Down to three, one more used: the page says so clearly.
    for (const code of u.codes.slice(1, 7)) expect(await useRecoveryCode(s(), u.user.id, code)).toBe(true);
    const few = await enter(again, reuse, u.codes[7]!);
    expect(/<p class="message error" role="alert">([^<]*)</.exec(few.html)?.[1]).toBe('Only 2 recovery codes left. Make new ones now so you do not get locked out.');
    expect(few.html).toContain('You can make a new set of recovery codes on your account page at any time.');
  });

  it('after an SMS sign-in, sends the email factor its code and takes it; a wrong one says the tries left', async () => {
    const phone = nextPhone();
    const email = nextEmail();
    const user = await upsertVerifiedPhoneUser(s().db, phone);
    await confirmedOob(s(), user.id, { type: 'email', email });
    const at = await smsSignIn(phone);
    expect(at.page.status).toBe(200);
    const masked = `${email[0]}•••@example.com`;
    expect(at.page.html).toContain(`<p class="lead">We sent a code to ${masked}.</p>`);
    expect(at.page.html).toContain('<label for="code">Code from the email</label>');
    const code = codeFrom(await t.mail.next(email));
    const wrong = await enter(at, at.page, String((Number(code) + 1) % 1_000_000).padStart(6, '0'));
    expect([wrong.status, alertOf(wrong.html)]).toEqual([400, 'That code is not right. Check the newest message and try again. Tries left: 4.']);
    const claims = await claimsAt(at.started, (await enter(at, wrong, code)).location);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['sms', 'otp', 'email', 'mfa'], MFA_ACR]);
    const audit = await s().db.prisma.auditEvent.findMany({ where: { type: { in: ['mfa.verified', 'mfa.failed'] }, userId: user.id }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => a.reason)).toEqual(['email:wrong', 'email']);
  });

  it('after an email sign-in, never offers the email factor; switching to SMS texts a code (resend too)', async () => {
    const email = nextEmail();
    const phone = nextPhone();
    const user = await upsertVerifiedEmailUser(s().db, email);
    await confirmedTotp(s(), user.id);
    const smsId = await confirmedOob(s(), user.id, { type: 'sms', phoneNumber: phone });
    await confirmedOob(s(), user.id, { type: 'email', email: `other-${email}` });
    const at = await signIn(email);
    const masked = `${'•'.repeat(phone.length - 3)}${phone.slice(-2)}`;
    expect(linksOf(at.page.html)).toEqual([[smsId, `Send a code by text message to ${masked}`]]);
    expect(twilio.messages.filter((m) => m.to === phone)).toEqual([]);
    const chosen = await at.started.browser.follow(`${t.url}/interaction/${uidOf(at.page)}/mfa?factor=${encodeURIComponent(smsId)}`, t.url);
    expect(chosen.html).toContain(`<p class="lead">We sent a code by text message to ${masked}.</p>`);
    const first = smsCode(await twilio.next(phone));
    // Reloading the page sends nothing new; asking again does once the cooldown is over (a second),
    // and only the newest code works.
    await at.started.browser.follow(chosen.url, t.url);
    const early = await at.started.browser.submit(chosen, '/mfa/resend', {}, t.url);
    const resent =
      early.status === 200
        ? early
        : await waitFor(
            async () => {
              const page = await at.started.browser.submit(chosen, '/mfa/resend', {}, t.url);
              if (page.status === 429) expect(alertOf(page.html)).toMatch(/^You can ask for another code in \d+ s\.$/);
              return page.status === 200 && page;
            },
            { timeout: 10_000, interval: 200, what: 'the resend cooldown to pass' },
          );
    expect(resent.url).toBe(`${chosen.url}&sent=1`);
    expect(resent.html).toContain('We sent you a new code. Only the newest code works.');
    const second = smsCode(await twilio.next(phone));
    expect(twilio.messages.filter((m) => m.to === phone)).toHaveLength(2);
    expect((await enter(at, resent, first)).status).toBe(400);
    const claims = await claimsAt(at.started, (await enter(at, resent, second)).location);
    expect([claims.sub, claims.amr]).toEqual([user.id, ['email', 'otp', 'sms', 'mfa']]);
  });

  it('asks for MFA when the request demands it (acr_values) under policy never, and not otherwise', async () => {
    const plain = await rpConfig(t, 'app', APP.client_secret);
    const u = await totpUser();
    const demanded = await signIn(u.email, { acr_values: MFA_ACR }, new FormClient(), plain);
    expect(demanded.page.url).toBe(`${t.url}/interaction/${uidOf(demanded.page)}/mfa`);
    const claims = await claimsAt(demanded.started, (await enter(demanded, demanded.page, totpCode(u.secret))).location, plain);
    expect([claims.amr, claims.acr]).toEqual([['email', 'otp', 'mfa'], MFA_ACR]);

    const notAsked = await signIn(u.email, {}, new FormClient(), plain);
    const none = await claimsAt(notAsked.started, notAsked.page.location, plain);
    expect([none.amr, none.acr]).toEqual([['email', 'otp'], 'urn:sesame:acr:email']);
  });

  it('lets a user without factors through under `enrolled`, and sends one to the enrolment under `always`', async () => {
    const email = nextEmail();
    await upsertVerifiedEmailUser(s().db, email);
    const through = await signIn(email);
    expect((await claimsAt(through.started, through.page.location)).amr).toEqual(['email', 'otp']);

    const always = await rpConfig(t, 'always-app', APP.client_secret);
    const enrol = await signIn(email, {}, new FormClient(), always);
    expect(enrol.page.url).toMatch(new RegExp(`^${t.url}/interaction/[^/]+/mfa/enrol$`));
  });

  it('gives the RP nothing when the sign-in is resumed by hand, and the page nothing to another browser', async () => {
    const u = await totpUser();
    const at = await signIn(u.email);
    const uid = uidOf(at.page);
    const resumed = await at.started.browser.follow(`${t.url}/authorize/${uid}`, t.url);
    expect([resumed.location, resumed.status, resumed.url]).toEqual([undefined, 200, expect.stringMatching(new RegExp(`^${t.url}/interaction/(?!${uid})[^/?]+$`))]);

    const fresh = await signIn(u.email);
    const freshUid = uidOf(fresh.page);
    const other = new FormClient();
    const shown = await other.request(`${t.url}/interaction/${freshUid}/mfa`);
    expect([shown.status, shown.html]).toEqual([400, expect.stringContaining('This sign-in page has expired or was opened in another browser.')]);
    const csrf = /name="csrf" value="([^"]+)"/.exec(fresh.page.html)![1]!;
    const posted = await other.request(`${t.url}/interaction/${freshUid}/mfa`, { form: { csrf, factor: u.authenticatorId, code: totpCode(u.secret) } });
    expect([posted.status, posted.html]).toEqual([400, expect.stringContaining('This sign-in page has expired or was opened in another browser.')]);
    const forged = await fresh.started.browser.request(`${t.url}/interaction/${freshUid}/mfa`, { form: { csrf: 'forged', factor: u.authenticatorId, code: totpCode(u.secret) } });
    expect([forged.status, forged.html]).toEqual([403, expect.stringContaining('This form has expired. Reload the page and try again.')]);
    const notMine = await fresh.started.browser.submit(fresh.page, '/mfa', { factor: 'totp|dev_someone-else', code: '123456' }, t.url);
    expect([notMine.status, notMine.html]).toEqual([400, expect.stringContaining('factor must be one of your factors')]);
    // None of these used the code: it still signs in.
    expect((await enter(fresh, fresh.page, totpCode(u.secret))).location).toMatch(SIGNED_IN);
  });

  it('finishes with the first factor when the factor was removed meanwhile and the policy no longer asks', async () => {
    const u = await totpUser();
    const at = await signIn(u.email);
    expect(at.page.html).toContain(HEADING);
    expect(await removeFactor(s(), u.user.id, u.authenticatorId, who)).toBe(true);
    expect(await removeFactor(s(), u.user.id, u.recoveryId, who)).toBe(true);
    const again = await at.started.browser.follow(at.page.url, t.url);
    expect((await claimsAt(at.started, again.location)).amr).toEqual(['email', 'otp']);
  });

  it('remembers the browser when asked: the next sign-in skips MFA, but not a request demanding it', async () => {
    const u = await totpUser();
    const browser = new FormClient();
    const first = await signIn(u.email, {}, browser);
    expect((await enter(first, first.page, totpCode(u.secret), { remember: '1' })).location).toMatch(SIGNED_IN);
    const second = await signIn(u.email, {}, browser);
    expect((await claimsAt(second.started, second.page.location)).amr).toEqual(['email', 'otp']);
    const demanded = await signIn(u.email, { acr_values: MFA_ACR }, browser);
    expect(demanded.page.html).toContain(HEADING);
    // Another browser of the same user is not remembered.
    const elsewhere = await signIn(u.email);
    expect(elsewhere.page.html).toContain(HEADING);
  });
});
