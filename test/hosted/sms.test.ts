// Sign-in by phone on the hosted pages: one field for email or phone, SMS with the code first and
// a WebOTP line, the country allow-list, caps per number prefix, and the conversion guard.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin, exchangeCode } from '../helpers/login.js';
import { oidcFixture } from '../oidc/fixture.js';
import { waitFor } from '../helpers/wait.js';

const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe.each(ENGINES)('SMS sign-in on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, {
      ...oidcFixture,
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US', 'GB'], defaultCountry: 'US', provider: { type: 'capture' }, sendsPerPrefixPerHour: 3 },
      ],
    });
  });
  afterAll(() => t?.stop());

  /** The text captured for `to` (the capture provider keeps it in the outbox). */
  async function smsTo(to: string): Promise<string> {
    const row = await waitFor(() => t.sesame.services.db.prisma.outboxMessage.findFirst({ where: { channel: 'sms', recipient: to }, orderBy: { createdAt: 'desc' } }), {
      timeout: 20_000,
      what: `an SMS to ${to}`,
    });
    return row.text;
  }

  it('signs in with a phone number typed in national format', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config, { scope: 'openid phone' });
    expect(started.page.html).toContain('type="text" autocomplete="username"');
    const codePage = await started.browser.submit(started.page, '/email', { identifier: '(650) 253-0000' }, t.url);
    expect(codePage.status).toBe(200);
    expect(codePage.html).toContain('We sent a code by text message to +16502530000.');
    const text = await smsTo('+16502530000');
    const code = /^(\d{6}) is your Sesame code\./.exec(text)?.[1];
    expect(code).toBeDefined();
    expect(text.split('\n').at(-1)).toBe(`@127.0.0.1 #${code}`);
    const done = await started.browser.submit(codePage, '/code', { code: code! }, t.url);
    const tokens = await exchangeCode(config, started, done.location);
    expect(tokens.claims()).toMatchObject({ phone_number: '+16502530000', phone_number_verified: true });
  });

  it('refuses numbers outside the allowed countries and invalid or premium numbers, with clear messages', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config);
    const france = await started.browser.submit(started.page, '/email', { identifier: '+33 6 12 34 56 78' }, t.url);
    expect([france.status, alertOf(france.html)]).toEqual([400, 'We cannot send codes to phone numbers in this country. Use your email address instead.']);
    const invalid = await started.browser.submit(started.page, '/email', { identifier: '12' }, t.url);
    expect([invalid.status, alertOf(invalid.html)]).toEqual([400, 'Enter a valid email address, or a phone number with its country code like +1 415 555 0100.']);
    const premium = await started.browser.submit(started.page, '/email', { identifier: '+1 900 555 0100' }, t.url);
    expect(premium.status).toBe(400);
    const sent = await t.sesame.services.db.prisma.outboxMessage.count({ where: { channel: 'sms', recipient: { in: ['+33612345678', '+19005550100'] } } });
    expect(sent).toBe(0);
  });

  it('caps sends per number prefix', async () => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const statuses = [];
    for (const last of ['11', '12', '13', '14']) {
      const started = await startLogin(t, config);
      statuses.push((await started.browser.submit(started.page, '/email', { identifier: `+44 7400 1234${last}` }, t.url)).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
