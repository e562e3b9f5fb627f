// The pre-built challenge page and client API driven by the real @authsignal/browser SDK in
// Chromium, from an app on another origin (http://localhost:A) than Sesame (http://127.0.0.1:B):
// launch() in popup mode resolves the result token once the email code is entered in the iframe,
// redirect mode lands on the app's redirectUrl with it, setToken() + email.challenge()/verify()
// pass through the client API; a failed challenge (too many wrong codes) and an authenticator app
// set up as the first factor (recovery codes, then the token) in the popup; and the page is
// accessible (axe) in English and French, its failure and recovery-code pages included.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { Authsignal as AuthsignalServer } from '@authsignal/node';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { axeBothSchemes } from '../helpers/accessibility.js';
import { clickInFrame, LOOPBACK_ONLY, useBrowser, watchProblems } from '../helpers/browser.js';
import { confirmedOob, confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { pageFixture, trackPay } from '../api/authsignal-page-fixture.js';

/** @authsignal/browser as one script defining the global `AuthsignalSdk`. */
async function sdkBundle(): Promise<string> {
  const entry = createRequire(import.meta.url).resolve('@authsignal/browser');
  const out = await build({ entryPoints: [entry], bundle: true, format: 'iife', globalName: 'AuthsignalSdk', platform: 'browser', write: false, logLevel: 'silent' });
  return out.outputFiles[0]!.text;
}

interface SdkWindow {
  AuthsignalSdk: { Authsignal: new (o: { tenantId: string; baseUrl: string }) => Record<string, never> };
  launched: Promise<{ token?: string }>;
}

describe('the pre-built challenge page with @authsignal/browser in Chromium', () => {
  let t: TestSesame;
  let s: Services;
  let app: Server;
  let appOrigin = '';
  const chromium = useBrowser([LOOPBACK_ONLY]);

  beforeAll(async () => {
    const port = await freePort();
    appOrigin = `http://localhost:${port}`;
    const sdk = await sdkBundle();
    app = createServer((req, res) => {
      if (req.url === '/sdk.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(sdk);
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end('<!doctype html><html lang="en"><head><title>Shop</title><script src="/sdk.js"></script></head><body><h1>Shop</h1></body></html>');
    });
    await new Promise<void>((resolve) => app.listen(port, 'localhost', resolve));
    t = await startTestSesame('sqlite', pageFixture(appOrigin));
    s = t.sesame.services;
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => app?.close(resolve));
  });
  const deps = () => ({ cookieKeys: s.cookieKeys, issuer: s.config.issuer, db: s.db, config: s.config });

  async function shopPage(expected?: (text: string, url: string) => boolean) {
    const page = await (await chromium.newContext()).newPage();
    const problems = watchProblems(page, expected);
    await page.goto(`${appOrigin}/`);
    return { page, problems };
  }

  it('launch() in popup mode resolves the result token after the email code is entered in the iframe', async () => {
    const email = `popup-${Date.now()}@example.com`;
    const a = await trackPay(s);
    await confirmedOob(s, a.row.principalId!, { type: 'email', email });
    const { page, problems } = await shopPage();
    await page.evaluate(
      ([url, baseUrl]) => {
        const w = window as unknown as SdkWindow & { AuthsignalSdk: { Authsignal: new (o: object) => { launch(u: string, o: object): Promise<{ token?: string }> } } };
        // What the page posts to the app's window, in order (the SDK reads the same messages).
        const seen: string[] = ((w as unknown as { seen: string[] }).seen = []);
        window.addEventListener('message', (e) => typeof e.data === 'string' && seen.push((JSON.parse(e.data) as { event: string }).event));
        w.launched = new w.AuthsignalSdk.Authsignal({ tenantId: 'shop', baseUrl }).launch(url!, { mode: 'popup' });
      },
      [a.url, `${t.url}/v1`],
    );
    const code = codeFrom(await t.mail.next(email));
    const frame = page.frameLocator('iframe');
    await frame.locator('#code').fill(code);
    await clickInFrame(frame.locator('button.primary'));
    const { token } = await page.evaluate(() => (window as unknown as SdkWindow).launched);
    expect(await validateToken(deps(), 'shop', { token })).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', verificationMethod: 'EMAIL_OTP' });
    // Ready on each page of the iframe (the code page, then the finish), then the token.
    expect(await page.evaluate(() => (window as unknown as { seen: string[] }).seen)).toEqual(['AUTHSIGNAL_READY', 'AUTHSIGNAL_READY', 'AUTHSIGNAL_CLOSE_POPUP']);
    expect(problems).toEqual([]);
  });

  it('tracked with @authsignal/node, a new user enrols the email given to track in the popup, and the server validates the result', async () => {
    const email = `node-${Date.now()}@example.com`;
    const server = new AuthsignalServer({ apiSecretKey: await issueTenantSecret(s.db, 'shop'), apiUrl: `${t.url}/v1`, retries: 0 });
    const tracked = await server.track({ userId: `u-${randomUUID()}`, action: 'pay', attributes: { email, ipAddress: '203.0.113.7' } });
    expect([tracked.state, tracked.url?.startsWith(`${t.url}/v1/ui?token=`)]).toEqual(['CHALLENGE_REQUIRED', true]);
    const { page, problems } = await shopPage();
    await page.evaluate(
      ([url, baseUrl]) => {
        const w = window as unknown as SdkWindow & { AuthsignalSdk: { Authsignal: new (o: object) => { launch(u: string, o: object): Promise<{ token?: string }> } } };
        w.launched = new w.AuthsignalSdk.Authsignal({ tenantId: 'shop', baseUrl }).launch(url!, { mode: 'popup' });
      },
      [tracked.url!, `${t.url}/v1`],
    );
    const frame = page.frameLocator('iframe');
    await clickInFrame(frame.locator('button.primary')); // "Send a code" to the address given to track
    await frame.locator('#code').fill(codeFrom(await t.mail.next(email)));
    await clickInFrame(frame.locator('button.primary'));
    const { token } = await page.evaluate(() => (window as unknown as SdkWindow).launched);
    expect(await server.validateChallenge({ token: token! })).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', action: 'pay', verificationMethod: 'EMAIL_OTP' });
    expect(problems).toEqual([]);
  });

  it('launch() in redirect mode lands on the redirectUrl with the result token', async () => {
    const email = `redirect-${Date.now()}@example.com`;
    const a = await trackPay(s, { redirectUrl: `${appOrigin}/cb` });
    await confirmedOob(s, a.row.principalId!, { type: 'email', email });
    const { page } = await shopPage();
    await page.evaluate(
      ([url, baseUrl]) => {
        const w = window as unknown as { AuthsignalSdk: { Authsignal: new (o: object) => { launch(u: string): unknown } } };
        void new w.AuthsignalSdk.Authsignal({ tenantId: 'shop', baseUrl }).launch(url!);
      },
      [a.url, `${t.url}/v1`],
    );
    await page.waitForURL(`${t.url}/v1/ui**`);
    await page.locator('#code').fill(codeFrom(await t.mail.next(email)));
    await page.locator('button.primary').click();
    await page.waitForURL(`${appOrigin}/cb?token=**`);
    const token = new URL(page.url()).searchParams.get('token');
    expect((await validateToken(deps(), 'shop', { token })).isValid).toBe(true);
  });

  it('setToken() + email.challenge() and email.verify() pass the challenge through the client API', async () => {
    const email = `sdk-${Date.now()}@example.com`;
    const a = await trackPay(s);
    await confirmedOob(s, a.row.principalId!, { type: 'email', email });
    const { page, problems } = await shopPage();
    type Sdk = { setToken(t: string): void; email: { challenge(): Promise<unknown>; verify(o: { code: string }): Promise<unknown> } };
    const challenged = await page.evaluate(
      ([token, baseUrl]) => {
        const w = window as unknown as { sdk: Sdk; AuthsignalSdk: { Authsignal: new (o: object) => Sdk } };
        w.sdk = new w.AuthsignalSdk.Authsignal({ tenantId: 'shop', baseUrl });
        w.sdk.setToken(token!);
        return w.sdk.email.challenge();
      },
      [a.token, `${t.url}/v1`],
    );
    expect(challenged).toEqual({ data: { challengeId: `a.${a.row.id}` } });
    const code = codeFrom(await t.mail.next(email));
    const verified = (await page.evaluate((c) => (window as unknown as { sdk: Sdk }).sdk.email.verify({ code: c }), code)) as { data: { isVerified: boolean; token: string } };
    expect(verified).toEqual({ data: { isVerified: true, token: expect.any(String) } });
    expect((await validateToken(deps(), 'shop', { token: verified.data.token })).isValid).toBe(true);
    expect(problems).toEqual([]);
  });

  /** launch() in popup mode on the shop's page, for the action at `url`; `launched` resolves the token. */
  async function launchPopup(url: string, expected?: (text: string, url: string) => boolean) {
    const { page, problems } = await shopPage(expected);
    await page.evaluate(
      ([u, baseUrl]) => {
        const w = window as unknown as SdkWindow & { AuthsignalSdk: { Authsignal: new (o: object) => { launch(u: string, o: object): Promise<{ token?: string }> } } };
        w.launched = new w.AuthsignalSdk.Authsignal({ tenantId: 'shop', baseUrl }).launch(u!, { mode: 'popup' });
      },
      [url, `${t.url}/v1`],
    );
    return { page, problems, frame: page.frameLocator('iframe') };
  }

  it('launch() in popup mode resolves a token that validates as CHALLENGE_FAILED after too many wrong codes', async () => {
    const a = await trackPay(s);
    const { secret } = await confirmedTotp(s, a.row.principalId!);
    // Each wrong code is a 400 page, which Chromium reports in the console; nothing else may be.
    const { page, problems, frame } = await launchPopup(a.url, (text, url) => url.endsWith('/v1/ui/verify') && text.includes('status of 400'));
    for (let i = 1; i <= 4; i++) {
      await frame.locator('#code').fill(totpCode(secret, 40 + i));
      await clickInFrame(frame.locator('button.primary'));
      await expect.poll(() => frame.locator('#form-error').count()).toBe(1);
    }
    await frame.locator('#code').fill(totpCode(secret, 50));
    await clickInFrame(frame.locator('button.primary'));
    const { token } = await page.evaluate(() => (window as unknown as SdkWindow).launched);
    expect(await validateToken(deps(), 'shop', { token })).toMatchObject({ isValid: false, state: 'CHALLENGE_FAILED', actionCode: 'pay' });
    expect(problems).toEqual([]);
  });

  // Each step is bounded so that a failure names its step rather than the test's 30 s.
  it('launch() in popup mode shows the recovery codes of a first authenticator app, then resolves the result token', async () => {
    const a = await trackPay(s);
    const { page, problems, frame } = await launchPopup(a.url);
    const step = { timeout: 8_000 };
    await clickInFrame(frame.locator('a', { hasText: 'Set up an authenticator app' }), step);
    // The email form before it has a primary button too: wait for the app's own form, or the click
    // can land on the page that is leaving and send an empty address instead.
    await clickInFrame(frame.locator('form[action="/v1/ui/totp"] button.primary'), step);
    const secret = (await frame.locator('#totp-key').textContent(step))!;
    await frame.locator('#code').fill(totpCode(secret), step);
    await clickInFrame(frame.locator('button.primary'), step);
    await frame.locator('ol.recovery-codes li').nth(9).waitFor(step);
    expect(await frame.locator('ol.recovery-codes li').count()).toBe(10);
    await clickInFrame(frame.locator('form[action="/v1/ui/done"] button.primary'), step);
    const launched = page.evaluate(() => (window as unknown as SdkWindow).launched);
    // Given up on below, it rejects when the context closes: not an unhandled rejection then.
    launched.catch(() => undefined);
    const { token } = await Promise.race([
      launched,
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('the popup never handed over a result token')), 8_000).unref()),
    ]);
    expect(await validateToken(deps(), 'shop', { token })).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', verificationMethod: 'AUTHENTICATOR_APP' });
    expect(problems).toEqual([]);
  });

  it.each([
    ['en', 'Save your recovery codes'],
    ['fr', 'Conservez vos codes de secours'],
  ])('is accessible in %s: the recovery codes and a failed challenge', async (locale, heading) => {
    const first = await trackPay(s, { locale, redirectUrl: `${appOrigin}/cb` });
    const page = await (await chromium.newContext()).newPage();
    await page.goto(`${first.url}&method=AUTHENTICATOR_APP`);
    await page.locator('button.primary').click();
    await page.locator('#code').fill(totpCode((await page.locator('#totp-key').textContent())!));
    await page.locator('button.primary').click();
    await expect.poll(() => page.locator('h1').textContent()).toBe(heading);
    const found = await axeBothSchemes(page, 'recovery codes');
    const failing = await trackPay(s, { locale, userId: first.row.userId, redirectUrl: `${appOrigin}/cb` });
    await page.goto(`${failing.url}&method=RECOVERY_CODE`);
    for (let i = 0; i < 5; i++) {
      await page.locator('#code').fill(`WRONG${i}CODE1234`);
      await page.locator('button.primary').click();
      await expect.poll(() => page.locator('.message.error').count()).toBe(1);
    }
    expect(await page.locator('#code').count()).toBe(0);
    found.push(...(await axeBothSchemes(page, 'failed')));
    expect(found).toEqual([]);
  });

  it.each([
    ['en', 'Confirm it is you'],
    ['fr', 'Confirmez que c’est vous'],
    ['de', 'Bestätigen Sie, dass Sie es sind'],
    ['es', 'Confirma que eres tú'],
  ])('is accessible in %s: code entry, enrolment and a wrong code', async (locale, heading) => {
    const withFactor = await trackPay(s, { locale });
    await confirmedOob(s, withFactor.row.principalId!, { type: 'email', email: `axe-${locale}-${Date.now()}@example.com` });
    const enrolling = await trackPay(s, { locale, email: `axe-new-${locale}-${Date.now()}@example.com` });
    const page = await (await chromium.newContext()).newPage();
    const found: string[] = [];
    await page.goto(withFactor.url);
    expect([await page.locator('html').getAttribute('lang'), await page.locator('h1').textContent()]).toEqual([locale, heading]);
    found.push(...(await axeBothSchemes(page, 'code')));
    await page.locator('#code').fill('000000');
    await page.locator('button.primary').click();
    await expect.poll(() => page.locator('#form-error').count()).toBe(1);
    found.push(...(await axeBothSchemes(page, 'wrong code')));
    await page.goto(enrolling.url);
    found.push(...(await axeBothSchemes(page, 'enrol')));
    expect(found).toEqual([]);
  });
});
