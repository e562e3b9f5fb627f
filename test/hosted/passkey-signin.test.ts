// Passkey sign-in on the hosted pages over HTTP, without a browser: a software authenticator answers
// the options the page's script would fetch, and the answer is posted as the page's form. The sign-in
// and its ID token (acr, amr), then every refusal and bad input: each shows the email page again with
// one message (400), never a 500. Both engines. The browser side is test/browser/passkeys.test.ts.
import type * as oidc from 'openid-client';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR } from '../../src/oidc/acr.js';
import { finishRegistration, startRegistration } from '../../src/passwordless/passkeys.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { findForm, type Page } from '../helpers/form-client.js';
import { rpConfig, signInWithEmail, startLogin, type Started, exchangeCode } from '../helpers/login.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';

const alertOf = (html: string) => /role="alert" id="form-error">([^<]*)</.exec(html)?.[1]?.trim();
const noticeOf = (html: string) => /role="status">([^<]*)</.exec(html)?.[1]?.trim();
const FAILED = 'Your passkey could not be verified. Try again, or sign in with a code.';
const EXPIRED = 'This passkey request has expired or was already used. Start again.';

describe.each(ENGINES)('passkey sign-in on the hosted pages on %s', (engine) => {
  let t: TestSesame;
  let site: TestSesame;
  let config: oidc.Configuration;
  beforeAll(async () => {
    // WebAuthn refuses IP addresses: the issuer (and so the relying party) is localhost.
    const port = await freePort();
    // No passkey offer after code sign-ins here: it has its own tests (test/hosted/passkey-offer.test.ts).
    t = await startTestSesame(engine, { ...oidcFixture, port, passkeys: { offerEnrolment: false } }, { issuer: `http://localhost:${port}` });
    site = { ...t, url: t.issuer };
    config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
  });
  afterAll(() => t?.stop());

  /** A user with a passkey on `device`, made through the same ceremony the enrolment offer runs. */
  async function userWithPasskey(device = new SoftAuthenticator({ origin: t.issuer }), email = `${randomUUID()}@example.test`) {
    const deps = t.sesame.services;
    const user = await upsertVerifiedEmailUser(deps.db, email);
    const { handle, options } = await startRegistration(deps, { user }, { boundTo: 'test' });
    const registered = await finishRegistration(deps, handle, device.register(options), { boundTo: 'test' });
    const passkey = await insertPasskey(deps.db, { ...registered.credential, userId: user.id });
    return { user, device, passkey, email };
  }

  /** What the page's script fetches: the options of a challenge bound to this interaction. */
  async function fetchOptions(started: Started, page: Page = started.page, body: unknown = { csrf: findForm(page.html, '/passkey').fields.csrf }) {
    const form = findForm(page.html, '/passkey');
    const answer = await started.browser.request(new URL(`${form.action}/options`, t.issuer).toString(), { method: 'POST', json: body });
    return { status: answer.status, headers: answer.headers, body: JSON.parse(answer.html) as Record<string, unknown> };
  }

  /** Posts the passkey form as the script does, with `fields` over its hidden ones. */
  const post = (started: Started, fields: Record<string, string>, page: Page = started.page) => started.browser.submit(page, '/passkey', fields, t.issuer);

  async function tokensOf(started: Started, location: string | undefined) {
    expect(location?.startsWith(`${REDIRECT}?`)).toBe(true);
    const tokens = await exchangeCode(config, started, location);
    return tokens.claims()!;
  }

  it('offers passkeys in the identifier field and signs in with one, nothing typed; the ID token says passkey', async () => {
    const { user, device } = await userWithPasskey();
    const started = await startLogin(site, config);
    expect(started.page.status).toBe(200);
    expect(started.page.html).toContain('autocomplete="username webauthn"');
    expect(started.page.html).toContain('<button type="button" id="passkey-button" class="secondary-button" hidden>Sign in with a passkey</button>');
    expect(started.page.html).toContain('<script src="/assets/passkey-signin.js" defer></script>');

    const options = await fetchOptions(started);
    expect(options.status).toBe(200);
    expect(options.body).toEqual({
      handle: expect.stringMatching(/^[\w-]{32}$/),
      options: { challenge: expect.stringMatching(/^[\w-]{40,}$/), rpId: 'localhost', timeout: 300000, userVerification: 'required' },
    });
    const { handle, options: optionsJSON } = options.body as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
    const done = await post(started, { handle, response: JSON.stringify(device.authenticate(optionsJSON)) });
    const claims = await tokensOf(started, done.location);
    expect(claims).toMatchObject({ sub: user.id, acr: ACR.passkey, amr: ['hwk', 'user'] });
  });

  it('says swk for a synced passkey', async () => {
    const { user, device } = await userWithPasskey(new SoftAuthenticator({ origin: t.issuer, backupEligible: true, backedUp: true }));
    const started = await startLogin(site, config);
    const { handle, options } = (await fetchOptions(started)).body as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
    const done = await post(started, { handle, response: JSON.stringify(device.authenticate(options)) });
    expect(await tokensOf(started, done.location)).toMatchObject({ sub: user.id, acr: ACR.passkey, amr: ['swk', 'user'] });
  });

  it('shows the email page again with one message for bad input, never a 500', async () => {
    const started = await startLogin(site, config);
    const { handle } = (await fetchOptions(started)).body as { handle: string };
    const cases: Array<[Record<string, string>, string]> = [
      [{ handle, response: '' }, FAILED],
      [{ handle, response: '{not json' }, FAILED],
      [{ handle, response: '"a string"' }, FAILED],
      [{ handle, response: JSON.stringify({ id: 'x' }) }, FAILED],
      [{ handle: '', response: JSON.stringify({ id: 'x', response: {} }) }, FAILED],
      [{ handle: 'x'.repeat(300), response: JSON.stringify({ id: 'x', response: {} }) }, FAILED],
      // A well-formed answer naming no known credential uses the challenge up...
      [
        {
          handle,
          response: JSON.stringify({ id: 'unknown', rawId: 'unknown', type: 'public-key', response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA' } }),
        },
        FAILED,
      ],
      // ...so it cannot be tried again.
      [{ handle, response: JSON.stringify({ id: 'unknown', response: {} }) }, EXPIRED],
      [{ handle: 'no-such-handle', response: JSON.stringify({ id: 'unknown', response: {} }) }, EXPIRED],
    ];
    for (const [fields, message] of cases) {
      const page = await post(started, fields);
      expect({ status: page.status, alert: alertOf(page.html) }, JSON.stringify(fields)).toEqual({ status: 400, alert: message });
      // The page is the email step again, ready for another try.
      expect(page.html).toContain('id="passkey-form"');
      expect(page.html).toContain(`action="/interaction/${new URL(page.url).pathname.split('/')[2]}/email"`);
    }
  });

  it('refuses a passkey whose user was not verified, a clone whose counter went back, and a challenge of another sign-in', async () => {
    const { device, passkey } = await userWithPasskey();
    const attempt = async (answer: (options: Parameters<SoftAuthenticator['authenticate']>[0]) => unknown, options: { from?: Started; to?: Started } = {}) => {
      const to = options.to ?? (await startLogin(site, config));
      const from = options.from ?? to;
      const got = (await fetchOptions(from)).body as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
      const page = await post(to, { handle: got.handle, response: JSON.stringify(answer(got.options)) });
      return { status: page.status, alert: alertOf(page.html) };
    };
    // An authenticator that skips user verification (a lying client turned the requirement down).
    device.uv = false;
    expect(await attempt((o) => device.authenticate({ ...o, userVerification: 'preferred' }))).toEqual({ status: 400, alert: FAILED });
    device.uv = true;

    // A clone of the credential that fell behind the original: its counter goes back.
    const clone = new SoftAuthenticator({ origin: t.issuer });
    clone.importCredential(device.exportCredential(passkey.id));
    const original = await startLogin(site, config);
    const got = (await fetchOptions(original)).body as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
    expect((await post(original, { handle: got.handle, response: JSON.stringify(device.authenticate(got.options)) })).location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?/);
    expect(await attempt((o) => clone.authenticate(o))).toEqual({ status: 400, alert: FAILED });

    // A challenge fetched in one sign-in (another tab, or a phishing page's own session) is no good in another.
    const mine = await startLogin(site, config);
    const theirs = await startLogin(site, config);
    expect(await attempt((o) => device.authenticate(o), { from: theirs, to: mine })).toEqual({ status: 400, alert: EXPIRED });
    // A phishing page relaying the challenge: the origin in clientDataJSON is its own.
    expect(await attempt((o) => device.authenticate(o, { clientDataOrigin: 'https://evil.example' }))).toEqual({ status: 400, alert: FAILED });
  });

  it('answers the options in JSON only to the sign-in page itself', async () => {
    const started = await startLogin(site, config);
    expect(await fetchOptions(started, started.page, {})).toMatchObject({ status: 403, body: { error: 'csrf', error_description: expect.any(String) } });
    expect(await fetchOptions(started, started.page, { csrf: 'forged' })).toMatchObject({ status: 403, body: { error: 'csrf' } });
    const gone = await started.browser.request(`${t.issuer}/interaction/nope/passkey/options`, { method: 'POST', json: {} });
    expect(gone.status).toBe(400);
  });

  it('demands a passkey for acr_values of a passkey: a user without one is told to create one first, and a code does not finish it', async () => {
    for (const params of [{ acr_values: ACR.passkey } as Record<string, string>, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.passkey] } } }) }]) {
      const started = await startLogin(site, config, params);
      expect(started.page.status).toBe(200);
      expect(started.page.html).toMatch(/<h1>Sign in with a passkey<\/h1>\s*<p class="lead">Test App asks you to sign in with a passkey\.<\/p>/);
      expect(started.page.html).toContain('<button type="button" id="passkey-button" class="primary" hidden>Sign in with a passkey</button>');
      expect(started.page.html).toContain('<h2 id="no-passkey">No passkey yet?</h2>');
      expect(started.page.html).toContain(
        '<p>Sign in with a code below. You will then be offered to create a passkey on this device: create it, then sign in with it on this page.</p>',
      );
      // The code sign-in (to create a passkey) goes to the offer, mandatory, instead of to the
      // application (test/hosted/passkey-offer.test.ts walks it); every way out of it leads back here.
      const email = `${randomUUID()}@example.test`;
      const offer = (await signInWithEmail(site, started, email)).result;
      expect([offer.status, offer.url]).toEqual([200, expect.stringMatching(/\/interaction\/[\w-]+\/passkey-offer$/)]);
      const result = await started.browser.follow(offer.url.replace(/\/passkey-offer$/, '?passkey=first'), new URL(offer.url).origin);
      expect(result.status).toBe(200);
      expect(noticeOf(result.html)).toBe(
        'This application needs a passkey sign-in. Sign in with your passkey now. If you have none yet, sign in with a code and accept the offer to create one.',
      );
      // Once the user has a passkey, it signs them in on that same page.
      const user = await t.sesame.services.db.prisma.user.findFirstOrThrow({ where: { email } });
      const device = new SoftAuthenticator({ origin: t.issuer });
      const { handle, options } = await startRegistration(t.sesame.services, { user }, { boundTo: 'test' });
      await insertPasskey(t.sesame.services.db, {
        ...(await finishRegistration(t.sesame.services, handle, device.register(options), { boundTo: 'test' })).credential,
        userId: user.id,
      });
      const got = (await fetchOptions(started, result)).body as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
      const done = await post(started, { handle: got.handle, response: JSON.stringify(device.authenticate(got.options)) }, result);
      expect(await tokensOf(started, done.location)).toMatchObject({ sub: user.id, acr: ACR.passkey, amr: ['hwk', 'user'] });
    }
  });

  it('refuses a passkey on a request whose essential acr leaves it out, as a hand-made form', async () => {
    const { device } = await userWithPasskey();
    const started = await startLogin(site, config, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.email] } } }) });
    expect(started.page.html).not.toContain('passkey');
    const csrf = findForm(started.page.html, '/email').fields.csrf!;
    const uid = new URL(started.page.url).pathname.split('/')[2]!;
    const options = await started.browser.request(`${t.issuer}/interaction/${uid}/passkey/options`, { method: 'POST', json: { csrf } });
    expect({ status: options.status, body: JSON.parse(options.html) as unknown }).toEqual({
      status: 400,
      body: { error: 'method_not_allowed', error_description: 'This application asks you to sign in another way. Use one of the ways shown on this page.' },
    });
    const response = JSON.stringify(device.authenticate({ challenge: 'AAAA', rpId: 'localhost', userVerification: 'required' }));
    const page = await started.browser.request(`${t.issuer}/interaction/${uid}/passkey`, { form: { csrf, handle: 'x', response } });
    expect({ status: page.status, alert: alertOf(page.html) }).toEqual({
      status: 400,
      alert: 'This application asks you to sign in another way. Use one of the ways shown on this page.',
    });
  });

  it('keeps code sign-ins as they were for other acr values, with the passkey offered beside them', async () => {
    const started = await startLogin(site, config, { acr_values: ACR.email });
    expect(started.page.html).toContain('<h1>Sign in</h1>');
    expect(started.page.html).toContain('id="passkey-form"');
    const email = `${randomUUID()}@example.test`;
    const { result } = await signInWithEmail(site, started, email);
    expect(await tokensOf(started, result.location)).toMatchObject({ acr: ACR.email, amr: ['email', 'otp'] });
  });

  // Last: it spends this address's ceremonies for the minute.
  it('limits how many ceremonies one address starts', async () => {
    const started = await startLogin(site, config);
    let last = await fetchOptions(started);
    for (let i = 0; i < 40 && last.status === 200; i++) last = await fetchOptions(started);
    expect(last.status).toBe(429);
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last.body).toEqual({ error: 'too_many_requests', error_description: 'Too many passkey sign-ins were started from this address.' });
  });
});
