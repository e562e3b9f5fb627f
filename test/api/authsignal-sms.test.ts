// SMS codes for tracked actions on both engines, through a Twilio-like server: enrolling the number
// given to track with the client API (and not another), then the pre-built page sending to the
// enrolled number (masked) and passing with its code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { ENGINES } from '../helpers/databases.js';
import { startFakeTwilio, smsCode, type FakeTwilio } from '../helpers/fake-twilio.js';
import { FormClient } from '../helpers/form-client.js';
import { htmlText } from '../helpers/html.js';
import { confirmedOob } from '../helpers/mfa-factors.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { pageFixture, SHOP_ORIGIN, trackPay } from './authsignal-page-fixture.js';

describe.each(ENGINES)('SMS codes of tracked actions on %s', (engine) => {
  let t: TestSesame;
  let s: Services;
  let twilio: FakeTwilio;
  beforeAll(async () => {
    twilio = await startFakeTwilio();
    const fixture = pageFixture();
    t = await startTestSesame(engine, {
      ...fixture,
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: twilio.provider() },
      ],
      actions: { policies: { ...fixture.actions.policies, text: { defaultOutcome: 'CHALLENGE', verificationMethods: ['SMS'], rules: [] } } },
    });
    s = t.sesame.services;
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  async function call(path: string, token: string, body?: unknown) {
    const res = await fetch(`${t.url}/v1/client${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, origin: SHOP_ORIGIN },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('enrols the number given to track (only that one) and passes with the code texted to it', async () => {
    const phoneNumber = '+16502530001';
    const a = await trackPay(s, { actionCode: 'text', phoneNumber });
    expect(await call('/user-authenticators/sms', a.token, { phoneNumber: '+16502539999' })).toEqual({
      status: 400,
      body: { error: 'bad_request', errorCode: 'bad_request', errorDescription: 'Codes for this action can only go to the address given to track.' },
    });
    expect(await call('/user-authenticators/sms', a.token, { phoneNumber })).toEqual({
      status: 200,
      body: { userAuthenticatorId: expect.stringMatching(/^sms\|/), userId: a.row.userId },
    });
    const code = smsCode(await twilio.next(phoneNumber));
    const verified = await call('/verify/sms', a.token, { verificationCode: code });
    expect(verified.body).toEqual({ isVerified: true, accessToken: expect.any(String) });
    expect(
      (await validateToken({ cookieKeys: s.cookieKeys, issuer: s.config.issuer, db: s.db, config: s.config }, 'shop', { token: verified.body.accessToken })).verificationMethod,
    ).toBe('SMS');
    expect(twilio.messages.filter((m) => m.to === '+16502539999')).toEqual([]);
  });

  it('texts the enrolled number from the page (masked) and redirects with the result', async () => {
    const phoneNumber = '+16502530002';
    const a = await trackPay(s, { actionCode: 'text', redirectUrl: `${SHOP_ORIGIN}/cb` });
    await confirmedOob(s, a.row.principalId!, { type: 'sms', phoneNumber });
    const browser = new FormClient();
    const page = await browser.request(a.url);
    expect(htmlText(/<p class="lead">([\s\S]*?)<\/p>/.exec(page.html)![1]!)).toBe('We sent a code by text message to •••••••••02.');
    const done = await browser.submit(page, '/v1/ui/verify', { code: smsCode(await twilio.next(phoneNumber)) }, t.url);
    expect([done.status, done.location?.startsWith(`${SHOP_ORIGIN}/cb?token=`)]).toEqual([303, true]);
  });
});
