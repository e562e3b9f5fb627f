// Passkey sign-in on the hosted pages in Chromium with the DevTools virtual authenticator (ctap2,
// internal, resident keys, user verification), on both engines, Sesame on http://localhost:<port>.
// A user's passkey is made by the real registration ceremony with a key generated here, stored as a
// Passkey row, and the same key handed to the virtual authenticator (WebAuthn.addCredential).
// Autofill (nothing typed), the button, two authenticators, a clone, user verification off, an RP
// demanding a passkey, a challenge carried to another sign-in, and axe on the changed pages.
import type * as oidc from 'openid-client';
import { randomUUID } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACR } from '../../src/oidc/acr.js';
import { finishRegistration, startRegistration } from '../../src/passwordless/passkeys.js';
import { insertPasskey, listPasskeys } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { LOOPBACK_ONLY, newAuthorization, useBrowser, watchProblems } from '../helpers/browser.js';
import { ENGINES } from '../helpers/databases.js';
import { rpConfig, exchangeCode } from '../helpers/login.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator, type ExportedCredential } from '../helpers/soft-authenticator.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { addVirtualAuthenticator, plantCredential } from '../helpers/virtual-authenticator.js';

const FAILED = 'Your passkey could not be verified. Try again, or sign in with a code.';

// Chromium, a virtual authenticator and a whole sign-in per test: slow on a busy machine.
describe.each(ENGINES)('passkeys in Chromium on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let config: oidc.Configuration;
  const chromium = useBrowser([LOOPBACK_ONLY]);

  beforeAll(async () => {
    const port = await freePort();
    t = await startTestSesame(engine, { ...oidcFixture, port }, { issuer: `http://localhost:${port}` });
    config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
  });
  afterAll(() => t?.stop());

  /** A user with a passkey made by the registration ceremony; the credential (key included) to plant in an authenticator. */
  async function userWithPasskey(user?: { id: string; email: string | null }) {
    const deps = t.sesame.services;
    const owner = user ?? (await upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`));
    const soft = new SoftAuthenticator({ origin: t.issuer });
    const { handle, options } = await startRegistration(deps, { user: owner }, { boundTo: 'test' });
    const registered = await finishRegistration(deps, handle, soft.register(options), { boundTo: 'test' });
    const passkey = await insertPasskey(deps.db, { ...registered.credential, userId: owner.id });
    return { user: owner, passkey, credential: soft.exportCredential(passkey.id) };
  }

  /** A page of a new context with its own virtual authenticator (it belongs to the page), holding `credentials`. */
  async function pageWithAuthenticator(credentials: ExportedCredential[] = [], options: { autofill?: boolean; locale?: string } = {}) {
    const context: BrowserContext = await chromium.newContext({ locale: options.locale ?? 'en-US' });
    const page = await context.newPage();
    // A browser without conditional mediation: only the button can start a passkey sign-in.
    if (options.autofill === false) {
      await page.addInitScript(() => {
        // Also runs in about:blank, which has no WebAuthn.
        if ('PublicKeyCredential' in window) PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
      });
    }
    const { cdp, authenticatorId } = await addVirtualAuthenticator(context, page);
    const authenticator = { cdp, id: authenticatorId };
    for (const credential of credentials) await plantCredential({ cdp, authenticatorId }, credential);
    return { page, authenticator, problems: watchProblems(page, (text) => /status of 400\b/.test(text)) };
  }

  /** Opens a new authorization request in `page`; `atRp` resolves with the callback URL once the browser is sent to the RP. */
  async function open(page: Page, params: Record<string, string> = {}) {
    // prompt=login: a second sign-in in one context would otherwise ride on the first one's session.
    const authorization = await newAuthorization(config, { redirect_uri: REDIRECT, scope: 'openid email', prompt: 'login', ...params });
    const atRp = page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`), { timeout: 60_000 });
    atRp.catch(() => undefined);
    const response = await page.goto(authorization.url.href);
    expect(response?.status()).toBe(200);
    return { ...authorization, atRp, page };
  }

  async function claimsAt(walk: Awaited<ReturnType<typeof open>>) {
    const callback = new URL((await walk.atRp).url());
    const tokens = await exchangeCode(config, walk, callback);
    return tokens.claims()!;
  }

  it('signs in by autofill with nothing typed (usernameless), moving the stored counter', async () => {
    const { user, passkey, credential } = await userWithPasskey();
    const { page, problems } = await pageWithAuthenticator([credential]);
    const walk = await open(page);
    // Nothing is typed or clicked: the autofill resolves on its own with the planted credential.
    expect(await claimsAt(walk)).toMatchObject({ sub: user.id, acr: ACR.passkey, amr: ['hwk', 'user'] });
    expect((await listPasskeys(t.sesame.services.db, user.id)).find((p) => p.id === passkey.id)).toMatchObject({ counter: credential.signCount + 1, lastUsedAt: expect.any(Date) });
    expect(problems).toEqual([]);
  });

  it('signs in with the button in a browser without autofill', async () => {
    const { user, credential } = await userWithPasskey();
    const { page, problems } = await pageWithAuthenticator([credential], { autofill: false });
    const walk = await open(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    expect(await claimsAt(walk)).toMatchObject({ sub: user.id, acr: ACR.passkey, amr: ['hwk', 'user'] });
    expect(problems).toEqual([]);
  });

  it('shows the page as before without JavaScript: no passkey button', async () => {
    const context = await chromium.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const walk = await open(page);
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Email me a code' }).isVisible()).toBe(true);
    void walk;
  });

  it('signs one user in from a second authenticator holding another of their passkeys', async () => {
    const first = await userWithPasskey();
    const second = await userWithPasskey(first.user);
    for (const credential of [first.credential, second.credential]) {
      const { page } = await pageWithAuthenticator([credential]);
      expect(await claimsAt(await open(page))).toMatchObject({ sub: first.user.id, acr: ACR.passkey });
    }
    const counters = (await listPasskeys(t.sesame.services.db, first.user.id)).map((p) => p.counter).sort();
    expect(counters).toEqual([2, 2]);
  });

  it('refuses a cloned credential whose counter went back, and then waits for the user', async () => {
    const { credential } = await userWithPasskey();
    // The original has signed in a few times since the copy was taken: its counter is ahead.
    const original = await pageWithAuthenticator([{ ...credential, signCount: 5 }]);
    await claimsAt(await open(original.page));
    const clone = await pageWithAuthenticator([credential]);
    const answered = clone.page.waitForResponse((r) => r.url().endsWith('/passkey') && r.request().method() === 'POST');
    await open(clone.page);
    expect((await answered).status()).toBe(400);
    await clone.page.getByRole('alert').filter({ hasText: FAILED }).waitFor();
    // No second try by itself: a clone retried in a loop would climb past the stored counter.
    expect(await clone.page.locator('#passkey-form').getAttribute('data-no-autofill')).toBe('');
    const audit = await t.sesame.services.db.prisma.auditEvent.findFirstOrThrow({ where: { type: 'passkey.failed', reason: { startsWith: 'counter went back' } } });
    expect(audit.reason).toBe('counter went back (6 -> 2): possible clone');
  });

  it('refuses a sign-in when the authenticator cannot verify the user', async () => {
    const { credential } = await userWithPasskey();
    const { page, authenticator } = await pageWithAuthenticator([credential], { autofill: false });
    await authenticator.cdp.send('WebAuthn.setUserVerified', { authenticatorId: authenticator.id, isUserVerified: false });
    await open(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByText('The passkey sign-in did not finish. Try again, or sign in with a code.').waitFor();
    expect(page.url()).toMatch(/\/interaction\/[\w-]+$/);
  });

  it('honours acr_values demanding a passkey; a user without one is told to create one first', async () => {
    const { user, credential } = await userWithPasskey();
    const { page } = await pageWithAuthenticator([credential]);
    expect(await claimsAt(await open(page, { acr_values: ACR.passkey }))).toMatchObject({ sub: user.id, acr: ACR.passkey, amr: ['hwk', 'user'] });

    const empty = await pageWithAuthenticator([], { autofill: false });
    await open(empty.page, { acr_values: ACR.passkey });
    expect(await empty.page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in with a passkey');
    expect(await empty.page.getByRole('heading', { name: 'No passkey yet?' }).isVisible()).toBe(true);
    await empty.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await empty.page.getByText('The passkey sign-in did not finish. Try again, or sign in with a code.').waitFor();
    expect(await empty.page.getByRole('button', { name: 'Email me a code' }).isVisible()).toBe(true);
  });

  it('refuses a challenge fetched by another sign-in', async () => {
    const { credential } = await userWithPasskey();
    const { page } = await pageWithAuthenticator([credential], { autofill: false });
    // Sign-in A's page: its options endpoint and token, as a page that relays them would have.
    await open(page);
    const other = { options: await page.locator('#passkey-form').getAttribute('data-options'), csrf: await page.locator('#passkey-form input[name=csrf]').inputValue() };
    await open(page);
    const answered = page.waitForResponse((r) => r.url().endsWith('/passkey') && r.request().method() === 'POST');
    await page.evaluate(async ({ options, csrf }) => {
      const got = (await (await fetch(options!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ csrf }) })).json()) as {
        handle: string;
        options: unknown;
      };
      const lib = (window as unknown as { SimpleWebAuthnBrowser: { startAuthentication(o: unknown): Promise<unknown> } }).SimpleWebAuthnBrowser;
      const response = await lib.startAuthentication({ optionsJSON: got.options });
      const form = document.getElementById('passkey-form') as HTMLFormElement;
      (form.elements.namedItem('handle') as HTMLInputElement).value = got.handle;
      (form.elements.namedItem('response') as HTMLInputElement).value = JSON.stringify(response);
      form.submit();
    }, other);
    expect((await answered).status()).toBe(400);
    await page.getByRole('alert').filter({ hasText: 'This passkey request has expired or was already used. Start again.' }).waitFor();
  });

  it('passes axe in light and dark, English and French, with the button, its message and the passkey-only page', async () => {
    const found: string[] = [];
    for (const locale of ['en-US', 'fr-FR']) {
      const { page } = await pageWithAuthenticator([], { autofill: false, locale });
      await open(page);
      await page.locator('#passkey-button').waitFor();
      found.push(...(await axeBothSchemes(page, `email+passkey ${locale}`)), ...(await brokenHeadings(page)));
      await page.locator('#passkey-button').click();
      await page.locator('#passkey-problem').waitFor();
      found.push(...(await axeBothSchemes(page, `passkey problem ${locale}`)));
      await open(page, { acr_values: ACR.passkey });
      await page.locator('#passkey-button').waitFor();
      found.push(...(await axeBothSchemes(page, `passkey only ${locale}`)), ...(await brokenHeadings(page)));
    }
    expect(found).toEqual([]);
  });
});
