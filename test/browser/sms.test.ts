// Sign-in by phone in a real Chromium, with texts sent through the real Twilio channel to a local
// Messages API (test/helpers/fake-twilio.ts): one "Email or phone number" field, a number typed in
// national format, the code read from the text (WebOTP line included), back at the RP with the
// phone claims; and in French, where the text is written in the page's language.
import type * as oidc from 'openid-client';
import type { BrowserContextOptions } from 'playwright-core';
import { openAuthorization, useBrowser, type Walk } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTwilio, smsCode, TWILIO_FROM, type FakeTwilio } from '../helpers/fake-twilio.js';
import { rpConfig, exchangeCode } from '../helpers/login.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';

describe('sign-in by phone in Chromium (Twilio channel)', () => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  let config: oidc.Configuration;
  let host: string;
  const chromium = useBrowser();

  beforeAll(async () => {
    twilio = await startFakeTwilio();
    t = await startTestSesame('sqlite', {
      ...oidcFixture,
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US', 'GB'], defaultCountry: 'US', provider: twilio.provider() },
      ],
    });
    config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    host = new URL(t.issuer).hostname;
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  async function open(options: BrowserContextOptions = {}): Promise<Walk> {
    const context = await chromium.newContext(options);
    return openAuthorization(context, config, { redirect_uri: REDIRECT, scope: 'openid phone' });
  }

  /** Enters the code, catches the browser's request to the RP's redirect_uri and redeems it like the RP. */
  async function finishAtRp(walk: Walk, code: string, codeLabel: string, submit: string) {
    const atRp = walk.page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    const field = walk.page.getByLabel(codeLabel);
    expect(await field.getAttribute('autocomplete')).toBe('one-time-code');
    await field.fill(code);
    await walk.page.getByRole('button', { name: submit, exact: true }).click();
    const callback = new URL((await atRp).url());
    expect(callback.searchParams.get('state')).toBe(walk.state);
    expect(callback.searchParams.get('iss')).toBe(t.issuer);
    const tokens = await exchangeCode(config, walk, callback);
    return tokens.claims()!;
  }

  it('signs in with a number typed in national format, the code read from the text', async () => {
    const walk = await open();
    const { page } = walk;
    const field = page.getByLabel('Email or phone number');
    expect(await field.getAttribute('type')).toBe('text');
    expect(await field.getAttribute('autocomplete')).toBe('username');
    expect(await page.getByLabel('Email address').count()).toBe(0);

    await field.fill('(650) 253-0000');
    await page.getByRole('button', { name: 'Send me a code' }).click();
    await page.getByLabel('Sign-in code').waitFor();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Check your messages');
    expect(await page.getByText('We sent a code by text message to +16502530000.').isVisible()).toBe(true);

    const sms = await twilio.next('+16502530000');
    expect(sms).toMatchObject({ username: twilio.accountSid, from: TWILIO_FROM, messagingServiceSid: null });
    const code = smsCode(sms, host);
    expect(host).toBe('127.0.0.1');
    expect(sms.body).toBe(`${code} is your Sesame code. It works for 10 minutes. Never share it.\n\n@127.0.0.1 #${code}`);

    const claims = await finishAtRp(walk, code, 'Sign-in code', 'Sign in');
    expect(claims).toMatchObject({ iss: t.issuer, aud: 'app', phone_number: '+16502530000', phone_number_verified: true });
    expect(claims.email).toBeUndefined();
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { phoneNumber: '+16502530000' } });
    expect(claims.sub).toBe(user.id);
    expect(walk.problems).toEqual([]);
  });

  it('in French, the page and the text are in French', async () => {
    const walk = await open({ locale: 'fr-FR' });
    const { page } = walk;
    expect(await page.locator('html').getAttribute('lang')).toBe('fr');
    await page.getByLabel('Adresse e-mail ou numéro de téléphone').fill('+44 7400 123411');
    await page.getByRole('button', { name: 'Recevoir un code' }).click();
    await page.getByLabel('Code de connexion').waitFor();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Consultez vos messages');
    expect(await page.getByText('Nous avons envoyé un code par SMS au +447400123411.').isVisible()).toBe(true);

    const sms = await twilio.next('+447400123411');
    expect(sms.from).toBe(TWILIO_FROM);
    const code = smsCode(sms, host);
    expect(sms.body).toBe(`${code} est votre code Sesame. Il est valable 10 minutes. Ne le partagez jamais.\n\n@127.0.0.1 #${code}`);

    const claims = await finishAtRp(walk, code, 'Code de connexion', 'Se connecter');
    expect(claims).toMatchObject({ phone_number: '+447400123411', phone_number_verified: true });
    expect(walk.problems).toEqual([]);
  });

  it('refuses a number outside the allowed countries on the page, and texts nothing', async () => {
    const walk = await open();
    const { page } = walk;
    const sent = twilio.messages.length;
    await page.getByLabel('Email or phone number').fill('+33 6 12 34 56 78');
    await page.getByRole('button', { name: 'Send me a code' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.textContent())?.trim()).toBe('We cannot send codes to phone numbers in this country. Use your email address instead.');
    expect(await page.getByLabel('Email or phone number').getAttribute('aria-invalid')).toBe('true');
    expect(twilio.messages.length).toBe(sent);
    expect(twilio.refused).toEqual([]);
  });
});
