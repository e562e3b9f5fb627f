// The pre-built challenge page /v1/ui on both engines, walked with plain form posts (no JavaScript):
// email code, authenticator app and recovery code, enrolling an email address, the redirect and
// popup finishes; and the attacks: wrong codes, a replayed or expired token, a forged form, another
// tenant's token, an open redirect, framing by other origins, and one code raced on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { mintActionToken } from '../../src/passwordless/action-tokens.js';
import { methodsOf } from '../../src/passwordless/actions.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { findDecision } from '../../src/storage/action-decisions.js';
import { challengePageUrl } from '../../src/api/authsignal-common.js';
import { ENGINES } from '../helpers/databases.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import { htmlText } from '../helpers/html.js';
import { confirmedOob, confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { startTestSesame, startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { pageFixture, SHOP_ORIGIN, trackPay } from './authsignal-page-fixture.js';

const FRAME = `frame-ancestors ${SHOP_ORIGIN};`;
const errorOf = (html: string) => htmlText(/<p class="message error" role="alert"[^>]*>([\s\S]*?)<\/p>/.exec(html)?.[1] ?? '');

describe.each(ENGINES)('the pre-built challenge page on %s', (engine) => {
  let t: TestSesame;
  let s: Services;
  beforeAll(async () => {
    t = await startTestSesame(engine, pageFixture());
    s = t.sesame.services;
  });
  afterAll(() => t?.stop());
  const deps = () => ({ cookieKeys: s.cookieKeys, issuer: s.config.issuer, db: s.db, config: s.config });

  it('passes an email code, then redirects to the app with a result token that validates once', async () => {
    const email = `pay-${Date.now()}@example.com`;
    const a = await trackPay(s, { redirectUrl: `${SHOP_ORIGIN}/cb?order=7` });
    await confirmedOob(s, a.row.principalId!, { type: 'email', email });
    const browser = new FormClient();
    const page = await browser.request(a.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain(FRAME);
    expect(page.headers.get('x-frame-options')).toBeNull();
    expect(htmlText(/<p class="lead">([\s\S]*?)<\/p>/.exec(page.html)![1]!)).toBe(`We sent a code to p•••@example.com.`);
    const code = codeFrom(await t.mail.next(email));

    const wrong = await browser.submit(page, '/v1/ui/verify', { code: code === '000000' ? '111111' : '000000' }, t.url);
    expect(wrong.status).toBe(400);
    expect(errorOf(wrong.html)).toMatch(/^That code is not right\. Check the newest message and try again\. Tries left: \d+\.$/);

    const done = await browser.submit(wrong, '/v1/ui/verify', { code }, t.url);
    expect(done.status).toBe(303);
    const landed = new URL(done.location!);
    expect(`${landed.origin}${landed.pathname}`).toBe(`${SHOP_ORIGIN}/cb`);
    expect([...landed.searchParams.keys()]).toEqual(['order', 'token']);
    const result = landed.searchParams.get('token')!;
    const row = (await findDecision(s.db, 'shop', a.row.idempotencyKey))!;
    expect(await validateToken(deps(), 'shop', { token: result })).toEqual({
      isValid: true,
      state: 'CHALLENGE_SUCCEEDED',
      stateUpdatedAt: row.stateUpdatedAt.toISOString(),
      userId: a.row.userId,
      actionCode: 'pay',
      idempotencyKey: a.row.idempotencyKey,
      verificationMethod: 'EMAIL_OTP',
    });
    expect((await validateToken(deps(), 'shop', { token: result })).isValid).toBe(false);
    // The track token cannot be used again: the page says the check is done, the form is refused.
    const again = await browser.request(a.url);
    expect([again.status, errorOf(again.html)]).toEqual([409, 'You have already confirmed it is you. Go back to the application.']);
    const replay = await browser.submit(page, '/v1/ui/verify', { code }, t.url);
    expect([replay.status, errorOf(replay.html)]).toEqual([409, 'You have already confirmed it is you. Go back to the application.']);
  });

  it('passes an authenticator app code, and a recovery code in popup mode (the token handed to the app window only)', async () => {
    const a = await trackPay(s, { redirectUrl: `${SHOP_ORIGIN}/cb` });
    const { secret } = await confirmedTotp(s, a.row.principalId!);
    const browser = new FormClient();
    const page = await browser.request(a.url);
    expect(htmlText(/<label for="code">([\s\S]*?)<\/label>/.exec(page.html)![1]!)).toBe('Code from your authenticator app');
    const done = await browser.submit(page, '/v1/ui/verify', { code: totpCode(secret) }, t.url);
    expect([done.status, done.location?.startsWith(`${SHOP_ORIGIN}/cb?token=`)]).toEqual([303, true]);

    const b = await trackPay(s, { userId: a.row.userId });
    const { codes } = await generateRecoveryCodes(s, b.row.principalId!);
    const popup = await browser.request(`${b.url}&mode=popup&method=RECOVERY_CODE`);
    expect(popup.html).toContain('<script src="/assets/action-popup.js" defer></script>');
    expect(findForm(popup.html, '/v1/ui/verify').fields).toEqual({ token: b.token, mode: 'popup', csrf: expect.any(String), method: 'RECOVERY_CODE' });
    const finished = await browser.submit(popup, '/v1/ui/verify', { code: codes[0]!.toLowerCase() }, t.url);
    expect(finished.status).toBe(200);
    const holder = /<div id="action-popup" hidden data-origins="([^"]*)" data-token="([^"]*)"><\/div>/.exec(finished.html)!;
    expect(holder[1]).toBe(SHOP_ORIGIN);
    expect((await validateToken(deps(), 'shop', { token: holder[2] })).verificationMethod).toBe('RECOVERY_CODE');
    // The finish route renders the same for a passed challenge's result token, once it is the decision's own.
    const reshown = await browser.request(`${t.url}/v1/ui/done?token=${encodeURIComponent(holder[2]!)}&mode=popup`);
    expect([reshown.status, reshown.html.includes(`data-token="${holder[2]}"`)]).toEqual([200, true]);
    const byTrack = await browser.request(`${t.url}/v1/ui/done?token=${encodeURIComponent(b.token)}`);
    expect([byTrack.status, errorOf(byTrack.html)]).toEqual([401, 'This link is not valid. Go back to the application and try again.']);
  });

  it('enrols the email address given to track, proved by its code, and refuses another address', async () => {
    const email = `new-${Date.now()}@example.com`;
    const a = await trackPay(s, { email, redirectUrl: `${SHOP_ORIGIN}/cb` });
    const browser = new FormClient();
    const page = await browser.request(a.url);
    expect(htmlText(/<p class="lead">([\s\S]*?)<\/p>/.exec(page.html)![1]!)).toBe('We will email a code to n•••@example.com.');
    expect(t.mail.to(email)).toEqual([]);
    const attack = await browser.submit(page, '/v1/ui/send', { address: 'attacker@evil.example' }, t.url);
    expect([attack.status, errorOf(attack.html)]).toEqual([400, 'Codes for this check can only go to the address the application gave.']);
    expect(t.mail.to('attacker@evil.example')).toEqual([]);

    const sent = await browser.submit(page, '/v1/ui/send', {}, t.url);
    expect(sent.status).toBe(200);
    expect(sent.url).toContain('method=EMAIL_OTP&sent=1');
    const code = codeFrom(await t.mail.next(email));
    const done = await browser.submit(sent, '/v1/ui/verify', { code }, t.url);
    expect([done.status, done.location?.startsWith(`${SHOP_ORIGIN}/cb?token=`)]).toEqual([303, true]);
    expect(await methodsOf(s.db, a.row.principalId!)).toEqual(['EMAIL_OTP']);
  });

  it('sets up an authenticator app for a user with no method, and passes with its first code', async () => {
    const a = await trackPay(s, { redirectUrl: `${SHOP_ORIGIN}/cb` });
    const browser = new FormClient();
    const first = await browser.request(a.url);
    // No address was given to track: the email way asks for one; the app is one link away.
    expect(first.html).toContain('<input id="address" name="address" type="email"');
    const choose = await browser.request(
      new URL(/<a href="([^"]*method=AUTHENTICATOR_APP[^"]*)">Set up an authenticator app<\/a>/.exec(first.html)![1]!.replaceAll('&amp;', '&'), t.url).toString(),
    );
    const setup = await browser.submit(choose, '/v1/ui/totp', {}, t.url);
    expect(setup.status).toBe(200);
    const secret = /<code class="secret" id="totp-key">([A-Z2-7]+)<\/code>/.exec(setup.html)![1]!;
    const wrong = await browser.submit(setup, '/v1/ui/verify', { code: totpCode(secret, 10) }, t.url);
    expect([wrong.status, errorOf(wrong.html)]).toEqual([400, 'That code is not right. Check that the app added this account, and enter the code it shows now.']);
    // The app is the user's first factor: its recovery codes are shown once, then the page goes on to the app.
    const codes = await browser.submit(wrong, '/v1/ui/verify', { code: totpCode(secret) }, t.url);
    expect([codes.status, htmlText(/<h1>([\s\S]*?)<\/h1>/.exec(codes.html)![1]!)]).toEqual([200, 'Save your recovery codes']);
    const shown = [...codes.html.matchAll(/<li><code>([A-Z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
    expect(shown).toHaveLength(10);
    const next = findForm(codes.html, '/v1/ui/done');
    const done = await browser.request(`${t.url}/v1/ui/done?${new URLSearchParams(next.fields).toString()}`);
    expect([done.status, done.headers.get('location')?.startsWith(`${SHOP_ORIGIN}/cb?token=`)]).toEqual([303, true]);
    expect(await methodsOf(s.db, a.row.principalId!)).toEqual(['AUTHENTICATOR_APP', 'RECOVERY_CODE']);
    // A reload of the finish does not show the codes again; one of them passes the user's next challenge.
    expect((await browser.request(`${t.url}/v1/ui/done?${new URLSearchParams(next.fields).toString()}`)).html).not.toContain(shown[0]!);
    const b = await trackPay(s, { userId: a.row.userId, redirectUrl: `${SHOP_ORIGIN}/cb` });
    const recovery = await browser.request(`${b.url}&method=RECOVERY_CODE`);
    const passed = await browser.submit(recovery, '/v1/ui/verify', { code: shown[0]! }, t.url);
    expect([passed.status, passed.location?.startsWith(`${SHOP_ORIGIN}/cb?token=`)]).toEqual([303, true]);
  });

  it('answers an expired, forged or foreign-form request with a readable page, never the action', async () => {
    const a = await trackPay(s);
    await confirmedTotp(s, a.row.principalId!);
    const keys = { cookieKeys: s.cookieKeys, issuer: s.config.issuer };
    const old = await mintActionToken(keys, 'track', a.row, 60, new Date(Date.now() - 3_600_000));
    const browser = new FormClient();
    const expired = await browser.request(challengePageUrl(s.config.issuer, old.token));
    expect([expired.status, errorOf(expired.html)]).toEqual([401, 'This page has expired. Go back to the application and try again.']);
    expect(expired.headers.get('content-security-policy')).toContain("frame-ancestors 'none';");
    const forged = await browser.request(challengePageUrl(s.config.issuer, `${a.token.slice(0, -4)}AAAA`));
    expect([forged.status, errorOf(forged.html)]).toEqual([401, 'This link is not valid. Go back to the application and try again.']);
    // A form of another action (its CSRF value) does not pass for this one.
    const b = await trackPay(s);
    await confirmedTotp(s, b.row.principalId!);
    const other = findForm((await browser.request(b.url)).html, '/v1/ui/verify');
    const page = await browser.request(a.url);
    const csrfd = await browser.request(`${t.url}/v1/ui/verify`, { form: { ...findForm(page.html, '/v1/ui/verify').fields, csrf: other.fields.csrf!, code: '123456' } });
    expect(csrfd.status).toBe(403);
    // Another tenant cannot validate this tenant's result.
    expect(await validateToken(deps(), 'other', { token: a.token })).toEqual({ isValid: false });
  });

  it('refuses to show the page, or redirect, for a redirectUrl outside the tenant (open redirect)', async () => {
    for (const redirectUrl of ['https://evil.example/cb', 'javascript:alert(1)', `${SHOP_ORIGIN}.evil.example/cb`]) {
      const a = await trackPay(s, { redirectUrl });
      await confirmedTotp(s, a.row.principalId!);
      const page = await new FormClient().request(a.url);
      expect([page.status, errorOf(page.html)]).toEqual([
        400,
        "The application gave an address to return to that it has not registered, so we will not send you there. Tell the application's support.",
      ]);
      expect(page.html).not.toContain('/v1/ui/verify');
    }
  });

  it('offers no passkey where passkeys cannot work (an IP-address issuer)', async () => {
    const a = await trackPay(s, { actionCode: 'signin', email: `ip-${Date.now()}@example.com` });
    const page = await new FormClient().request(a.url);
    expect(page.status).toBe(200);
    expect(findForm(page.html, '/v1/ui/send').fields.method).toBe('EMAIL_OTP');
    expect(page.html).not.toContain('action-passkey');
    expect(page.html).not.toContain('other-methods');
  });

  it.runIf(engine === 'postgresql')('passes once when one right code is posted many times at once', async () => {
    const email = `race-${Date.now()}@example.com`;
    const a = await trackPay(s, { redirectUrl: `${SHOP_ORIGIN}/cb` });
    await confirmedOob(s, a.row.principalId!, { type: 'email', email });
    const browser = new FormClient();
    const page = await browser.request(a.url);
    const code = codeFrom(await t.mail.next(email));
    const fields = { ...findForm(page.html, '/v1/ui/verify').fields, code };
    const answers = await Promise.all(Array.from({ length: 8 }, () => browser.request(`${t.url}/v1/ui/verify`, { form: fields })));
    const passed = answers.filter((r) => r.status === 303);
    expect(passed).toHaveLength(1);
    expect(answers.filter((r) => r.status !== 303).every((r) => r.status >= 400 && r.status < 500)).toBe(true);
    const token = new URL(passed[0]!.headers.get('location')!).searchParams.get('token');
    expect((await validateToken(deps(), 'shop', { token })).isValid).toBe(true);
  });
});

describe('the passkey section of the challenge page', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost('sqlite', pageFixture());
  });
  afterAll(() => t?.stop());

  it('shows it (for the passkey script) when the rule allows a passkey, with a note for browsers without JavaScript', async () => {
    const a = await trackPay(t.sesame.services, { actionCode: 'signin', email: `pk-${Date.now()}@example.com` });
    const page = await new FormClient().request(a.url);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`<div id="action-passkey" data-token="${a.token}" data-mode="redirect" data-enrol hidden>`);
    expect(page.html).toContain('<script src="/assets/simplewebauthn-browser.js" defer></script>\n    <script src="/assets/action-passkey.js" defer></script>');
    expect(htmlText(/<noscript>([\s\S]*?)<\/noscript>/.exec(page.html)![1]!)).toBe('A passkey needs JavaScript and a browser that supports passkeys. Use another method below.');
    expect(htmlText(/<ul class="methods"[^>]*>([\s\S]*?)<\/ul>/.exec(page.html)![1]!)).toBe('Get a code by email');
  });
});
