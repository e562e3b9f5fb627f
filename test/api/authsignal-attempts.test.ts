// A challenge's attempts on both engines: the wrong code that spends the last one fails the action
// (CHALLENGE_FAILED) on the pre-built page (redirect and popup finishes) and through the client API
// (MAX_ATTEMPTS_EXCEEDED), and validate reports it. The attacks: guesses with another action's
// token, another tenant's or a forged one never spend this action's attempts; on PostgreSQL
// parallel wrong and right codes end in one consistent state.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { findDecision } from '../../src/storage/action-decisions.js';
import { challengePageUrl } from '../../src/api/authsignal-common.js';
import { ENGINES } from '../helpers/databases.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { htmlText } from '../helpers/html.js';
import { confirmedOob, confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { pageFixture, SHOP_ORIGIN, trackPay, type TrackedAction } from './authsignal-page-fixture.js';

const errorOf = (html: string) => htmlText(/<p class="message error" role="alert"[^>]*>([\s\S]*?)<\/p>/.exec(html)?.[1] ?? '');
const FAILED = 'Too many wrong codes: this check has failed. Go back to the application to try again.';
const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

describe.each(ENGINES)('the attempts of an action challenge on %s', (engine) => {
  let t: TestSesame;
  let s: Services;
  beforeAll(async () => {
    // Many checks from one test IP: the per-IP rate is not what these tests are about.
    t = await startTestSesame(engine, { ...pageFixture(), rateLimits: { sendsPerIpPerHour: 500, verifiesPerIpPerMinute: 1000 } });
    s = t.sesame.services;
  });
  afterAll(() => t?.stop());
  const deps = () => ({ cookieKeys: s.cookieKeys, issuer: s.config.issuer, db: s.db, config: s.config });
  const stateOf = async (a: TrackedAction) => (await findDecision(s.db, a.row.tenantId, a.row.idempotencyKey))!.state;

  /** A client API call as @authsignal/browser makes it from the shop's page. */
  async function call(path: string, token: string, body?: unknown) {
    const res = await fetch(`${t.url}/v1/client${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: SHOP_ORIGIN, authorization: `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** The page of an action whose user has an email factor, and the code mailed to it. */
  async function emailChallenge(redirectUrl = `${SHOP_ORIGIN}/cb`, userId?: string) {
    const email = `tries-${Date.now()}-${Math.random().toString(36).slice(2, 6)}@example.com`;
    const a = await trackPay(s, { redirectUrl, ...(userId && { userId }) });
    await confirmedOob(s, a.row.principalId!, { type: 'email', email });
    const browser = new FormClient();
    const page = await browser.request(a.url);
    return { a, browser, page, code: codeFrom(await t.mail.next(email)) };
  }

  it('fails the action on the page with the fifth wrong code; validate then says CHALLENGE_FAILED', async () => {
    const { a, browser, page, code } = await emailChallenge(`${SHOP_ORIGIN}/cb?order=9`);
    let last: Page = page;
    for (const left of [4, 3, 2, 1]) {
      last = await browser.submit(last, '/v1/ui/verify', { code: wrongFor(code) }, t.url);
      expect([last.status, errorOf(last.html)]).toEqual([400, `That code is not right. Check the newest message and try again. Tries left: ${left}.`]);
    }
    const failed = await browser.submit(last, '/v1/ui/verify', { code: wrongFor(code) }, t.url);
    expect([failed.status, errorOf(failed.html)]).toEqual([400, FAILED]);
    // The way back hands the app its track token, which now validates to the failure.
    const back = /<p><a href="([^"]*)">Back to the application<\/a><\/p>/.exec(failed.html)![1]!.replaceAll('&amp;', '&');
    expect(back).toBe(`${SHOP_ORIGIN}/cb?order=9&token=${encodeURIComponent(a.token)}`);
    const row = (await findDecision(s.db, 'shop', a.row.idempotencyKey))!;
    expect(await validateToken(deps(), 'shop', { token: a.token })).toEqual({
      isValid: false,
      state: 'CHALLENGE_FAILED',
      stateUpdatedAt: row.stateUpdatedAt.toISOString(),
      userId: a.row.userId,
      actionCode: 'pay',
      idempotencyKey: a.row.idempotencyKey,
    });
    // Over: the right code, a new code or the page itself only say so.
    const right = await browser.submit(page, '/v1/ui/verify', { code }, t.url);
    expect([right.status, errorOf(right.html)]).toEqual([409, FAILED]);
    const again = await browser.request(a.url);
    expect([again.status, errorOf(again.html)]).toEqual([409, FAILED]);
    expect(again.html).not.toContain('/v1/ui/verify');
    expect(await stateOf(a)).toBe('CHALLENGE_FAILED');
    // A security event, once, for the tenant and the user.
    const audits = await s.db.prisma.auditEvent.findMany({ where: { type: 'action.challenge_failed', userId: a.row.principalId } });
    expect(audits.map((e) => [e.clientId, e.reason, e.count])).toEqual([['shop', 'max_attempts', 1]]);
  });

  it('in popup mode hands the app window the token at once when authenticator app codes run out', async () => {
    const a = await trackPay(s);
    const { secret } = await confirmedTotp(s, a.row.principalId!);
    const browser = new FormClient();
    let last = await browser.request(`${a.url}&mode=popup`);
    for (let i = 0; i < 4; i++) {
      last = await browser.submit(last, '/v1/ui/verify', { code: totpCode(secret, 40 + i) }, t.url);
      expect([last.status, errorOf(last.html)]).toEqual([400, 'That code is not right. Enter the code your authenticator app shows now.']);
    }
    const failed = await browser.submit(last, '/v1/ui/verify', { code: totpCode(secret, 50) }, t.url);
    expect([failed.status, errorOf(failed.html)]).toEqual([400, FAILED]);
    expect(failed.html).toContain(`<div id="action-popup" hidden data-origins="${SHOP_ORIGIN}" data-token="${a.token}"></div>`);
    expect(failed.html).not.toContain('Back to the application');
    expect(await stateOf(a)).toBe('CHALLENGE_FAILED');
  });

  it('answers MAX_ATTEMPTS_EXCEEDED through the client API, then refuses the right code', async () => {
    const { a, code } = await emailChallenge();
    for (let i = 0; i < 4; i++) {
      expect(await call('/verify/email-otp', a.token, { verificationCode: wrongFor(code) })).toEqual({
        status: 200,
        body: { isVerified: false, failureReason: 'CODE_INVALID_OR_EXPIRED' },
      });
    }
    expect(await call('/verify/email-otp', a.token, { verificationCode: wrongFor(code) })).toEqual({
      status: 200,
      body: { isVerified: false, failureReason: 'MAX_ATTEMPTS_EXCEEDED' },
    });
    expect(await call('/verify/email-otp', a.token, { verificationCode: code })).toEqual({
      status: 400,
      body: { error: 'bad_request', errorCode: 'bad_request', errorDescription: 'The action is not waiting for a challenge.' },
    });
    expect((await validateToken(deps(), 'shop', { token: a.token })).state).toBe('CHALLENGE_FAILED');
  });

  it("spends only its own attempts: another action of the user, another tenant's token and a forged one leave it alone", async () => {
    const { a, browser, page, code } = await emailChallenge();
    // The same user's other action, failed with wrong authenticator app codes.
    const b = await trackPay(s, { userId: a.row.userId });
    const { secret } = await confirmedTotp(s, b.row.principalId!);
    for (let i = 0; i < 5; i++) await call('/verify/totp', b.token, { verificationCode: totpCode(secret, 60 + i) });
    expect(await stateOf(b)).toBe('CHALLENGE_FAILED');
    // Another tenant's action: its token reaches only its own decision.
    const foreign = await trackPay(s, { tenantId: 'other', userId: a.row.userId });
    expect(foreign.row.principalId).not.toBe(a.row.principalId);
    const other = await confirmedTotp(s, foreign.row.principalId!);
    const otherBrowser = new FormClient();
    let last = await otherBrowser.request(foreign.url);
    for (let i = 0; i < 5; i++) last = await otherBrowser.submit(last, '/v1/ui/verify', { code: totpCode(other.secret, 70 + i) }, t.url);
    expect([last.status, errorOf(last.html), await stateOf(foreign)]).toEqual([400, FAILED, 'CHALLENGE_FAILED']);
    expect(await call('/verify/email-otp', foreign.token, { verificationCode: wrongFor(code) })).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    // A token for this action signed with any other key is refused before anything is counted.
    const forged = await new SignJWT({
      typ: 'track',
      scope: 'read:authenticators add:authenticators',
      other: { tenantId: 'shop', userId: a.row.userId, actionCode: 'pay', idempotencyKey: a.row.idempotencyKey },
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(a.row.userId)
      .setAudience('shop')
      .setIssuer(s.config.issuer)
      .setIssuedAt()
      .setExpirationTime('10m')
      .setJti('forged')
      .sign(randomBytes(32));
    for (let i = 0; i < 5; i++) {
      expect(await call('/verify/email-otp', forged, { verificationCode: wrongFor(code) })).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    }
    const forgedPage = await new FormClient().request(challengePageUrl(s.config.issuer, forged));
    expect([forgedPage.status, errorOf(forgedPage.html)]).toEqual([401, 'This link is not valid. Go back to the application and try again.']);
    // This action still has every attempt: four wrong codes leave one, and the right code passes.
    last = page;
    for (let i = 0; i < 4; i++) last = await browser.submit(last, '/v1/ui/verify', { code: wrongFor(code) }, t.url);
    expect(errorOf(last.html)).toBe('That code is not right. Check the newest message and try again. Tries left: 1.');
    const done = await browser.submit(last, '/v1/ui/verify', { code }, t.url);
    expect([done.status, done.location?.startsWith(`${SHOP_ORIGIN}/cb?token=`)]).toEqual([303, true]);
    expect(await stateOf(a)).toBe('CHALLENGE_SUCCEEDED');
  });

  it.runIf(engine === 'postgresql')('ends in one state when the last wrong codes and the right one race', async () => {
    for (let round = 0; round < 4; round++) {
      const { a, code } = await emailChallenge();
      for (let i = 0; i < 3; i++) await call('/verify/email-otp', a.token, { verificationCode: wrongFor(code) });
      const codes = [wrongFor(code), wrongFor(code), wrongFor(code), code];
      const answers = await Promise.all(codes.map((c) => call('/verify/email-otp', a.token, { verificationCode: c })));
      const passed = answers.filter((r) => r.body.isVerified === true);
      const state = await stateOf(a);
      // Attempts beyond the budget while others are in flight wait a moment (429); none is a server error.
      expect(answers.every((r) => r.status === 200 || r.status === 429 || (r.status === 400 && r.body.error === 'bad_request'))).toBe(true);
      if (state === 'CHALLENGE_SUCCEEDED') {
        expect(passed).toHaveLength(1);
        expect((await validateToken(deps(), 'shop', { token: passed[0]!.body.accessToken })).isValid).toBe(true);
      } else {
        expect([state, passed.length]).toEqual(['CHALLENGE_FAILED', 0]);
        expect(answers.some((r) => r.body.failureReason === 'MAX_ATTEMPTS_EXCEEDED')).toBe(true);
        expect((await validateToken(deps(), 'shop', { token: a.token })).isValid).toBe(false);
      }
    }
    // One right authenticator app code sent many times at once (a double submit): one pass, and the
    // replays never spend the attempts into a failure.
    const b = await trackPay(s);
    const { secret } = await confirmedTotp(s, b.row.principalId!);
    const right = totpCode(secret);
    const sent = await Promise.all(Array.from({ length: 10 }, () => call('/verify/totp', b.token, { verificationCode: right })));
    expect([sent.filter((r) => r.body.isVerified === true).length, await stateOf(b)]).toEqual([1, 'CHALLENGE_SUCCEEDED']);
    // A burst of wrong codes alone: the action fails, and no more than the budget was compared.
    const { a, code } = await emailChallenge();
    const answers = await Promise.all(Array.from({ length: 12 }, () => call('/verify/email-otp', a.token, { verificationCode: wrongFor(code) })));
    expect(await stateOf(a)).toBe('CHALLENGE_FAILED');
    expect(answers.filter((r) => r.body.failureReason === 'CODE_INVALID_OR_EXPIRED').length).toBeLessThanOrEqual(4);
    expect(answers.every((r) => r.body.isVerified === false || r.status === 429 || r.body.error === 'bad_request')).toBe(true);
  });
});
