// The hosted MFA enrolment over HTTP without JavaScript (issue 15 items 1, 3, 7): policy `always`, a
// new user signs in by email code and must add a second factor. An authenticator app (the secret read
// from the page, codes computed with otpauth), a text message (the fake Twilio server), recovery codes
// shown once, the tokens' amr and acr; then the attacks: a wrong code, a way not offered (email after
// an email sign-in), a reload of the codes, another user's authenticator id, resuming by hand,
// parallel confirmations of one code. Passkeys: mfa-enrol-passkey.test.ts; Chromium: test/browser/mfa-enrol.test.ts.
import type * as oidc from 'openid-client';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin, type Started, exchangeCode } from '../helpers/login.js';
import { findForm, type Page } from '../helpers/form-client.js';
import { unescapeHtml } from '../helpers/html.js';
import { codeFrom } from '../helpers/smtp.js';
import { smsCode, startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';
import { oidcFixture } from '../oidc/fixture.js';
import { MFA_ACR } from '../../src/oidc/acr.js';
import { removeFactor } from '../../src/passwordless/mfa/factors.js';

const APP_SECRET = oidcFixture.clients[0]!.client_secret;
const alertOf = (html: string) => /role="alert" id="form-error"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
const h1Of = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];
const RECOVERY_CODE = /<li><code>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})<\/code><\/li>/g;
const factorChoices = (html: string) => [...html.matchAll(/<h2 class="item-title" id="factor-(\w+)">([^<]*)<\/h2>/g)].map((m) => `${m[1]}: ${m[2]}`);
const totpOf = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 });

describe.each(ENGINES)('MFA enrolment over HTTP on %s', (engine) => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  let app: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    twilio = await startFakeTwilio();
    t = await startTestSesame(engine, {
      ...oidcFixture,
      mfa: { policy: 'always' },
      codes: { resendCooldown: 1 },
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US', 'GB'], defaultCountry: 'US', provider: twilio.provider() },
      ],
    });
    app = await rpConfig(t, 'app', APP_SECRET);
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  const nextEmail = () => `enrol${++n}-${engine}@example.com`;
  const db = () => t.sesame.services.db.prisma;
  const enrolUrl = (uid: string, rest = '') => `${t.url}/interaction/${uid}/mfa/enrol${rest}`;
  const factorsOf = async (email: string) => {
    const user = await db().user.findUniqueOrThrow({ where: { email } });
    const rows = await db().authenticator.findMany({ where: { userId: user.id }, orderBy: { type: 'asc' } });
    return rows.map((r) => [r.type, r.confirmed]);
  };

  /** An email code sign-in up to the MFA stop: the code's answer is the 303 to /mfa; then the enrolment page. */
  async function atEnrolment(email = nextEmail(), started?: Started, heading = 'Add a second way to sign in') {
    started ??= await startLogin(t, app, { prompt: 'login' });
    const codePage = await started.browser.submit(started.page, '/email', { identifier: email }, t.url);
    const uid = /\/interaction\/([^/?]+)/.exec(codePage.url)![1]!;
    const code = email.startsWith('+') ? smsCode(await twilio.next(email)) : codeFrom(await t.mail.next(email));
    const form = findForm(codePage.html, '/code');
    const stop = await started.browser.request(new URL(form.action, codePage.url).href, { form: { ...form.fields, code } });
    expect([stop.status, stop.headers.get('location')]).toEqual([303, `/interaction/${uid}/mfa`]);
    const page = await started.browser.follow(enrolUrl(uid), t.url);
    expect([page.status, h1Of(page.html)]).toEqual([200, heading]);
    return { started, uid, email, page };
  }

  type At = Awaited<ReturnType<typeof atEnrolment>>;

  /** From the choice, the authenticator app page; its key read from the page as a person would copy it. */
  async function atTotp(at: At, heading = 'Set up your authenticator app') {
    const page = await at.started.browser.submit(at.page, '/mfa/enrol/totp', {}, t.url);
    expect([page.status, page.url, h1Of(page.html)]).toEqual([200, enrolUrl(at.uid, '/totp'), heading]);
    const key = /<code class="secret" id="totp-key" data-secret="[A-Z2-7]+">([A-Z2-7 ]+)<\/code>/.exec(page.html)![1]!;
    const secret = key.replace(/ /g, '');
    expect(key).toBe(secret.match(/.{1,4}/g)!.join(' '));
    return { page, secret, authenticator: findForm(page.html, '/totp/confirm').fields.authenticator! };
  }

  async function tokensAt(started: Started, location: string | undefined) {
    expect(location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const tokens = await exchangeCode(app, started, location);
    return tokens.claims()!;
  }

  it('enrols an authenticator app, shows 10 recovery codes once, and the RP gets the MFA amr and acr; the next sign-in is challenged', async () => {
    const at = await atEnrolment();
    // No email after an email sign-in, no passkey on an IP issuer.
    expect(factorChoices(at.page.html)).toEqual(['totp: Authenticator app', 'sms: Text message']);
    expect(at.page.html).not.toMatch(/<script(?![^>]*src=)/);

    const { page, secret } = await atTotp(at);
    expect(page.html).toContain('<div class="qr" role="img" aria-labelledby="qr-label" aria-describedby="totp-key-label totp-key"><svg');
    const uri = new URL(unescapeHtml(/<a href="(otpauth:\/\/[^"]+)">/.exec(page.html)![1]!));
    expect([uri.protocol, uri.host, decodeURIComponent(uri.pathname), uri.searchParams.get('secret'), uri.searchParams.get('issuer')]).toEqual([
      'otpauth:',
      'totp',
      `/Sesame:${at.email}`,
      secret,
      'Sesame',
    ]);

    const wrong = await at.started.browser.submit(page, '/totp/confirm', { code: totpOf(secret).generate({ timestamp: Date.now() - 3600_000 }) }, t.url);
    expect([wrong.status, alertOf(wrong.html), wrong.html.includes(`data-secret="${secret}"`)]).toEqual([
      400,
      'That code is not right. Check that the app added this account, and enter the code it shows now.',
      true,
    ]);
    expect(await factorsOf(at.email)).toEqual([['totp', false]]);

    const codes = await at.started.browser.submit(page, '/totp/confirm', { code: totpOf(secret).generate() }, t.url);
    expect([codes.status, codes.url, h1Of(codes.html)]).toEqual([200, enrolUrl(at.uid, '/totp/confirm'), 'Save your recovery codes']);
    const shown = [...codes.html.matchAll(RECOVERY_CODE)].map((m) => m[1]!);
    expect(shown).toHaveLength(10);
    expect(new Set(shown).size).toBe(10);
    const download = /<a href="(data:text\/plain;charset=utf-8,[^"]+)" download="recovery-codes.txt">Download the codes as a text file<\/a>/.exec(codes.html)![1]!;
    expect(decodeURIComponent(download.slice(download.indexOf(',') + 1))).toBe(`Sesame\r\n${shown.join('\r\n')}\r\n`);
    expect(await factorsOf(at.email)).toEqual([
      ['recovery-code', true],
      ['totp', true],
    ]);

    // A reload, Back, or the choice page again: the codes are not shown a second time.
    const reload = await at.started.browser.follow(enrolUrl(at.uid), t.url);
    expect([reload.status, reload.url, h1Of(reload.html)]).toEqual([200, enrolUrl(at.uid, '/recovery'), 'Save your recovery codes']);
    expect(reload.html).toContain('Your recovery codes were shown once and are not shown again.');
    expect(shown.filter((c) => reload.html.includes(c))).toEqual([]);
    expect(reload.html).not.toContain('data:text/plain');

    const unticked = await at.started.browser.submit(codes, '/mfa/enrol/recovery', {}, t.url);
    expect([unticked.status, alertOf(unticked.html)]).toEqual([400, 'Tick the box to confirm, then continue.']);
    expect(shown.filter((c) => unticked.html.includes(c))).toEqual([]);
    const done = await at.started.browser.submit(codes, '/mfa/enrol/recovery', { saved: 'yes' }, t.url);
    const claims = await tokensAt(at.started, done.location);
    const user = await db().user.findUniqueOrThrow({ where: { email: at.email } });
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['email', 'otp', 'mfa'], MFA_ACR]);
    const audit = await db().auditEvent.findMany({ where: { userId: user.id, type: { in: ['mfa.verified', 'mfa.failed'] } }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.type, a.reason])).toEqual([
      ['mfa.failed', 'otp:wrong'],
      ['mfa.verified', 'otp:enrolled'],
    ]);

    // The next sign-in is challenged, not enrolled again: /mfa, and the enrolment sends there too.
    const again = await startLogin(t, app, { prompt: 'login' }, at.started.browser);
    const codePage = await again.browser.submit(again.page, '/email', { email: at.email }, t.url);
    const uid = /\/interaction\/([^/?]+)/.exec(codePage.url)![1]!;
    const form = findForm(codePage.html, '/code');
    const stop = await again.browser.request(new URL(form.action, codePage.url).href, { form: { ...form.fields, code: codeFrom(await t.mail.next(at.email)) } });
    expect([stop.status, stop.headers.get('location')]).toEqual([303, `/interaction/${uid}/mfa`]);
    const enrolAgain = await again.browser.request(enrolUrl(uid));
    expect([enrolAgain.status, enrolAgain.headers.get('location')]).toEqual([303, `/interaction/${uid}/mfa`]);
  });

  it('makes no new recovery codes for a user who still has some: the enrolment finishes at once', async () => {
    const first = await atEnrolment();
    const enrolled = await atTotp(first);
    const codes = await first.started.browser.submit(enrolled.page, '/totp/confirm', { code: totpOf(enrolled.secret).generate() }, t.url);
    const shown = [...codes.html.matchAll(RECOVERY_CODE)].map((m) => m[1]!);
    await first.started.browser.submit(codes, '/mfa/enrol/recovery', { saved: 'yes' }, t.url);
    // The app is removed (the account page's job): recovery codes alone are a way back, not a factor to challenge with.
    const user = await db().user.findUniqueOrThrow({ where: { email: first.email } });
    expect(await removeFactor(t.sesame.services, user.id, enrolled.authenticator, { ip: '127.0.0.1' })).toBe(true);
    const again = await atEnrolment(first.email, await startLogin(t, app, { prompt: 'login' }, first.started.browser));
    const { page, secret } = await atTotp(again);
    const done = await again.started.browser.submit(page, '/totp/confirm', { code: totpOf(secret).generate() }, t.url);
    expect((await tokensAt(again.started, done.location)).amr).toEqual(['email', 'otp', 'mfa']);
    expect(await db().recoveryCode.count({ where: { userId: user.id, usedAt: null } })).toBe(shown.length);
  });

  it('enrols a phone by text message (fake Twilio) after an email sign-in; a wrong code is refused', async () => {
    const at = await atEnrolment();
    const form = await at.started.browser.request(enrolUrl(at.uid, '/sms'));
    expect([form.status, h1Of(form.html)]).toEqual([200, 'Your phone number']);
    expect(form.html).toContain('<input id="address" name="address" type="tel" autocomplete="tel"');
    const invalid = await at.started.browser.submit(form, '/mfa/enrol/sms', { address: '12' }, t.url);
    expect([invalid.status, alertOf(invalid.html)]).toEqual([400, 'Enter a valid mobile phone number, like +1 415 555 0100.']);
    const france = await at.started.browser.submit(form, '/mfa/enrol/sms', { address: '+33 6 12 34 56 78' }, t.url);
    expect([france.status, alertOf(france.html)]).toEqual([400, 'We cannot send codes to phone numbers in this country. Choose another way.']);

    const codePage = await at.started.browser.submit(form, '/mfa/enrol/sms', { address: '(650) 253-0001' }, t.url);
    expect([codePage.status, codePage.url, h1Of(codePage.html)]).toEqual([200, enrolUrl(at.uid, '/sms/code'), 'Enter the code']);
    expect(codePage.html).toContain('We texted a code to +16502530001. Enter it to confirm the number.');
    const code = smsCode(await twilio.next('+16502530001'));
    const wrongCode = code === '000000' ? '111111' : '000000';
    const wrong = await at.started.browser.submit(codePage, '/sms/code', { code: wrongCode }, t.url);
    expect([wrong.status, alertOf(wrong.html)]).toEqual([400, 'That code is not right. Check the newest message and try again.']);
    expect(await factorsOf(at.email)).toEqual([['sms', false]]);

    const codes = await at.started.browser.submit(codePage, '/sms/code', { code }, t.url);
    expect([codes.status, h1Of(codes.html), [...codes.html.matchAll(RECOVERY_CODE)].length]).toEqual([200, 'Save your recovery codes', 10]);
    const done = await at.started.browser.submit(codes, '/mfa/enrol/recovery', { saved: 'yes' }, t.url);
    const claims = await tokensAt(at.started, done.location);
    expect([claims.amr, claims.acr]).toEqual([['email', 'otp', 'sms', 'mfa'], MFA_ACR]);
    const user = await db().user.findUniqueOrThrow({ where: { email: at.email } });
    expect(await db().authenticator.findMany({ where: { userId: user.id, type: 'sms' }, select: { phoneNumber: true, confirmed: true } })).toEqual([
      { phoneNumber: '+16502530001', confirmed: true },
    ]);
  });

  it('enrols an email address (SMTP sink) after a text-message sign-in', async () => {
    const at = await atEnrolment('+16502530002');
    expect(factorChoices(at.page.html)).toEqual(['totp: Authenticator app', 'email: Email']);
    const form = await at.started.browser.request(enrolUrl(at.uid, '/email'));
    const invalid = await at.started.browser.submit(form, '/mfa/enrol/email', { address: 'not an address' }, t.url);
    expect([invalid.status, alertOf(invalid.html)]).toEqual([400, 'Enter a valid email address, like name@example.com.']);
    const address = `factor${n}-${engine}@example.com`;
    const codePage = await at.started.browser.submit(form, '/mfa/enrol/email', { address: ` ${address.toUpperCase()} ` }, t.url);
    expect([codePage.status, codePage.url]).toEqual([200, enrolUrl(at.uid, '/email/code')]);
    expect(codePage.html).toContain(`We emailed a code to ${address}. Enter it to confirm the address.`);
    const codes = await at.started.browser.submit(codePage, '/email/code', { code: codeFrom(await t.mail.next(address)) }, t.url);
    expect([codes.status, [...codes.html.matchAll(RECOVERY_CODE)].length]).toEqual([200, 10]);
    const claims = await tokensAt(at.started, (await at.started.browser.submit(codes, '/mfa/enrol/recovery', { saved: 'yes' }, t.url)).location);
    expect([claims.amr, claims.acr]).toEqual([['sms', 'otp', 'email', 'mfa'], MFA_ACR]);
  });

  it("refuses another user's phone being enrolled, by its authenticator id, with the code sent to it", async () => {
    const victim = await atEnrolment();
    const victimForm = await victim.started.browser.request(enrolUrl(victim.uid, '/sms'));
    const victimCode = await victim.started.browser.submit(victimForm, '/mfa/enrol/sms', { address: '+1 650 253 0003' }, t.url);
    const victimId = findForm(victimCode.html, '/sms/code').fields.authenticator!;
    const code = smsCode(await twilio.next('+16502530003'));
    const attacker = await atEnrolment();
    const attackerForm = await attacker.started.browser.request(enrolUrl(attacker.uid, '/sms'));
    const attackerCode = await attacker.started.browser.submit(attackerForm, '/mfa/enrol/sms', { address: '+1 650 253 0004' }, t.url);
    await twilio.next('+16502530004');
    const forged = await attacker.started.browser.submit(attackerCode, '/sms/code', { authenticator: victimId, code }, t.url);
    expect([forged.status, alertOf(forged.html)]).toEqual([400, 'This set-up was replaced or has ended. Start again.']);
    expect([await factorsOf(victim.email), await factorsOf(attacker.email)]).toEqual([[['sms', false]], [['sms', false]]]);
    const own = await victim.started.browser.submit(victimCode, '/sms/code', { code }, t.url);
    expect([own.status, h1Of(own.html)]).toEqual([200, 'Save your recovery codes']);
  });

  it('does not offer email as the second factor of an email sign-in, even to a hand-made request', async () => {
    const at = await atEnrolment();
    const csrf = findForm(at.page.html, '/mfa/enrol/totp').fields.csrf!;
    const shown = await at.started.browser.request(enrolUrl(at.uid, '/email'));
    const posted = await at.started.browser.request(enrolUrl(at.uid, '/email'), { form: { csrf, address: 'second@example.com' } });
    for (const page of [shown, posted]) {
      expect([page.status, h1Of(page.html), alertOf(page.html)]).toEqual([
        400,
        'Add a second way to sign in',
        'This way is not available for this sign-in. Choose one of the ways below.',
      ]);
    }
    expect(await factorsOf(at.email)).toEqual([]);
    expect(await db().outboxMessage.count({ where: { recipient: 'second@example.com' } })).toBe(0);
  });

  it('puts wrong first codes behind the failure budget of codes: after the free ones, a wait (429), the right code too', async () => {
    const at = await atEnrolment();
    const { page, secret } = await atTotp(at);
    const old = totpOf(secret).generate({ timestamp: Date.now() - 3600_000 });
    for (let i = 0; i < 6; i++) expect((await at.started.browser.submit(page, '/totp/confirm', { code: old }, t.url)).status).toBe(400);
    const waiting = await at.started.browser.submit(page, '/totp/confirm', { code: totpOf(secret).generate() }, t.url);
    expect([waiting.status, waiting.headers.get('retry-after'), alertOf(waiting.html)]).toEqual([
      429,
      expect.stringMatching(/^[12]$/),
      expect.stringMatching(/^Too many wrong codes\. Try again in [12] s\.$/),
    ]);
    expect(await factorsOf(at.email)).toEqual([['totp', false]]);
  });

  it('speaks French for ui_locales=fr', async () => {
    const started = await startLogin(t, app, { prompt: 'login', ui_locales: 'fr' });
    const at = await atEnrolment(nextEmail(), started, 'Ajouter une deuxième étape de connexion');
    expect(at.page.html).toContain('<html lang="fr">');
    expect(at.page.html).toContain('>Utiliser une application d’authentification</button>');
    const { page } = await atTotp(at, 'Configurer votre application d’authentification');
    const wrong = await at.started.browser.submit(page, '/totp/confirm', { code: '1' }, t.url);
    expect([wrong.status, alertOf(wrong.html)]).toEqual([400, 'Saisissez les 6 chiffres affichés par l’application, par exemple 123456.']);
  });

  it("refuses another user's authenticator id, even with a right code for it", async () => {
    const victim = await atEnrolment();
    const victimTotp = await atTotp(victim);
    const attacker = await atEnrolment();
    const attackerTotp = await atTotp(attacker);
    const forged = await attacker.started.browser.submit(
      attackerTotp.page,
      '/totp/confirm',
      { authenticator: victimTotp.authenticator, code: totpOf(victimTotp.secret).generate() },
      t.url,
    );
    expect([forged.status, alertOf(forged.html), forged.html.includes(`data-secret="${attackerTotp.secret}"`)]).toEqual([
      400,
      'This set-up was replaced or has ended. Start again.',
      true,
    ]);
    expect([await factorsOf(victim.email), await factorsOf(attacker.email)]).toEqual([[['totp', false]], [['totp', false]]]);
    // The victim's code was not used up by the attempt: their own confirmation still works.
    const codes = await victim.started.browser.submit(victimTotp.page, '/totp/confirm', { code: totpOf(victimTotp.secret).generate() }, t.url);
    expect([codes.status, h1Of(codes.html)]).toEqual([200, 'Save your recovery codes']);
    // Nor does another interaction's enrolment page open in the attacker's browser.
    const theirs = await attacker.started.browser.request(enrolUrl(victim.uid, '/totp'));
    expect([theirs.status, theirs.html]).toEqual([400, expect.stringContaining('This sign-in page has expired or was opened in another browser.')]);
  });

  it('gives nothing to resuming by hand during enrolment, before and after the factor is confirmed', async () => {
    for (const confirmed of [false, true]) {
      const at = await atEnrolment();
      if (confirmed) {
        const { page, secret } = await atTotp(at);
        expect((await at.started.browser.submit(page, '/totp/confirm', { code: totpOf(secret).generate() }, t.url)).status).toBe(200);
      }
      const resumed = await at.started.browser.follow(`${t.url}/authorize/${at.uid}`, t.url);
      expect([resumed.location, resumed.status, resumed.url]).toEqual([undefined, 200, expect.stringMatching(new RegExp(`^${t.url}/interaction/(?!${at.uid})[^/?]+$`))]);
    }
  });

  it('answers a forged form and a page before any sign-in without a 500', async () => {
    const at = await atEnrolment();
    const forged = await at.started.browser.request(enrolUrl(at.uid, '/totp'), { form: { csrf: 'forged' } });
    expect([forged.status, forged.html]).toEqual([403, expect.stringContaining('This form has expired. Reload the page and try again.')]);
    expect(await factorsOf(at.email)).toEqual([]);
    const fresh = await startLogin(t, app);
    const freshUid = /\/interaction\/([^/?]+)/.exec(fresh.page.url)![1]!;
    const early = await fresh.browser.request(enrolUrl(freshUid));
    expect([early.status, early.headers.get('location')]).toEqual([303, `/interaction/${freshUid}`]);
  });

  it.runIf(engine === 'postgresql')('confirms one enrolment once when the same code is sent in parallel', async () => {
    const at = await atEnrolment();
    const { page, secret, authenticator } = await atTotp(at);
    const form = findForm(page.html, '/totp/confirm');
    const code = totpOf(secret).generate();
    const answers: Page[] = await Promise.all(
      Array.from({ length: 4 }, () => at.started.browser.request(new URL(form.action, page.url).href, { form: { ...form.fields, authenticator, code } })),
    );
    // One shows the codes; the others none (confirmed already: 400, replays' budget: 429, sent on: 303).
    expect(answers.filter((a) => a.status === 200).map((a) => [...a.html.matchAll(RECOVERY_CODE)].length)).toEqual([10]);
    for (const other of answers.filter((a) => a.status !== 200)) {
      expect([other.status, [...other.html.matchAll(RECOVERY_CODE)].length, other.headers.get('location') ?? `/interaction/${at.uid}`]).toEqual([expect.toBeOneOf([303, 400, 429]), 0, expect.stringMatching(new RegExp(`^/interaction/${at.uid}(/|$)`))]); // prettier-ignore
    }
    expect(await db().recoveryCode.count({ where: { userId: (await db().user.findUniqueOrThrow({ where: { email: at.email } })).id } })).toBe(10);
  });
});
