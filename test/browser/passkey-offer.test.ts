// The passkey offer in Chromium with a CDP virtual authenticator (PROTOCOLS-NEXT B.2), on both
// engines: a code sign-in, the offer, a passkey created by the page's script (passkey-enrol.js) and
// stored under the authenticator's name, the RP getting the code's amr; no offer once the user has a
// passkey; "not now" remembered in this browser only; the page without JavaScript; axe in light and
// dark mode, English and French. Bad input and attacks over HTTP: test/hosted/passkey-offer.test.ts.
import * as oidc from 'openid-client';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOOPBACK_ONLY, newAuthorization, useBrowser, watchProblems } from '../helpers/browser.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';

const APP_SECRET = oidcFixture.clients[0]!.client_secret;
const EN = { heading: 'Sign in faster next time with a passkey', create: 'Create a passkey', notNow: 'Not now', cont: 'Continue' };
const FR = { heading: "Connectez-vous plus vite la prochaine fois avec une clé d'accès", create: "Créer une clé d'accès", notNow: 'Pas maintenant', cont: 'Continuer' };

interface Tab {
  page: Page;
  problems: string[];
  /** Set when the page has a virtual authenticator. */
  cdp?: CDPSession;
  authenticatorId?: string;
  added: Array<{ credential: { credentialId: string } }>;
}

// Several code sign-ins per test in Chromium: slow on a loaded machine.
describe.each(ENGINES)('passkey offer in Chromium on %s', { timeout: 120_000 }, (engine) => {
  let t: TestSesame;
  let config: oidc.Configuration;
  let n = 0;
  const chromium = useBrowser([LOOPBACK_ONLY]);

  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, { ...oidcFixture, codes: { resendCooldown: 1 } });
    config = await rpConfig(t, 'app', APP_SECRET);
  });
  afterAll(async () => {
    await t?.stop();
  });

  const nextEmail = () => `chromium-offer${++n}-${engine}@example.com`;

  /** A page of `context`, with a virtual authenticator (ctap2, internal, resident keys, UV) when asked. */
  async function tab(context: BrowserContext, authenticator: boolean): Promise<Tab> {
    const page = await context.newPage();
    const found: Tab = { page, problems: watchProblems(page), added: [] };
    if (!authenticator) return found;
    ({ cdp: found.cdp, authenticatorId: found.authenticatorId } = await addVirtualAuthenticator(context, page));
    found.cdp.on('WebAuthn.credentialAdded', (event) => found.added.push(event as Tab['added'][number]));
    return found;
  }

  /**
   * A code sign-in (prompt=login, so an earlier session does not skip it) up to the click on "Sign
   * in"; returns the authorization's PKCE and state, and the promise of the browser's request to the RP.
   */
  async function signIn(at: Tab, email: string, signInLabel = 'Sign in') {
    const authorization = await newAuthorization(config, { redirect_uri: REDIRECT, scope: 'openid email', prompt: 'login' });
    expect((await at.page.goto(authorization.url.href))?.status()).toBe(200);
    await at.page.locator('input[name="identifier"], input[name="email"]').first().fill(email);
    await at.page.locator('form[action$="/email"] button[type="submit"]').first().click();
    await at.page.locator('input[name="code"]').fill(codeFrom(await t.mail.next(email)));
    const atRp = at.page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    atRp.catch(() => undefined);
    await at.page.getByRole('button', { name: signInLabel, exact: true }).click();
    return { authorization, atRp };
  }

  async function claimsOf(signedIn: Awaited<ReturnType<typeof signIn>>) {
    const { authorization, atRp } = signedIn;
    const tokens = await oidc.authorizationCodeGrant(config, new URL((await atRp).url()), {
      pkceCodeVerifier: authorization.verifier,
      expectedState: authorization.state,
      expectedNonce: authorization.nonce,
    });
    return tokens.claims()!;
  }

  const userOf = (email: string) => t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });

  it('creates a passkey from the offer; the RP gets the code amr; the next sign-in has no offer', async () => {
    const context = await chromium.newContext();
    const at = await tab(context, true);
    const email = nextEmail();
    const signedIn = await signIn(at, email);
    await at.page.getByRole('heading', { name: EN.heading }).waitFor();
    expect(await at.page.getByRole('button', { name: EN.cont }).isVisible()).toBe(false);
    await at.page.getByRole('button', { name: EN.create }).click();
    const claims = await claimsOf(signedIn);
    const user = await userOf(email);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['email', 'otp'], 'urn:sesame:acr:email']);
    await waitFor(() => at.added.length === 1);
    const credentialId = Buffer.from(at.added[0]!.credential.credentialId, 'base64').toString('base64url');
    const rows = await t.sesame.services.db.prisma.passkey.findMany({ where: { userId: user.id } });
    expect(rows.map((p) => [p.id, p.name, p.aaguid, p.transports])).toEqual([[credentialId, 'Virtual authenticator', '01020304-0506-0708-0102-030405060708', 'internal']]);

    // The next code sign-in in this browser (a new tab: the last one may still be failing to reach
    // the RP's unreachable redirect URI) goes straight to the RP: the user has a passkey now.
    const again = await signIn(await tab(context, false), email);
    expect((await claimsOf(again)).sub).toBe(user.id);
    expect(at.problems).toEqual([]);
  });

  it('remembers "not now" for this user in this browser; another browser is offered again (in French)', async () => {
    const email = nextEmail();
    const browser = await chromium.newContext();
    const first = await tab(browser, false);
    const declined = await signIn(first, email);
    await first.page.getByRole('button', { name: EN.notNow }).click();
    expect((await claimsOf(declined)).amr).toEqual(['email', 'otp']);
    const again = await signIn(await tab(browser, false), email);
    expect((await claimsOf(again)).sub).toBe((await userOf(email)).id);

    const elsewhere = await tab(await chromium.newContext({ locale: 'fr-FR' }), false);
    const offered = await signIn(elsewhere, email, 'Se connecter');
    await elsewhere.page.getByRole('heading', { name: FR.heading }).waitFor();
    expect(await axeBothSchemes(elsewhere.page, 'passkey-offer fr')).toEqual([]);
    expect(await brokenHeadings(elsewhere.page)).toEqual([]);
    await elsewhere.page.getByRole('button', { name: FR.notNow }).click();
    expect((await claimsOf(offered)).amr).toEqual(['email', 'otp']);
    expect([...first.problems, ...elsewhere.problems]).toEqual([]);
  });

  it('passes axe in light and dark mode; a refused browser step says so, and trying again creates the passkey', async () => {
    const at = await tab(await chromium.newContext(), true);
    const email = nextEmail();
    const signedIn = await signIn(at, email);
    await at.page.getByRole('heading', { name: EN.heading }).waitFor();
    expect(await axeBothSchemes(at.page, 'passkey-offer')).toEqual([]);
    expect(await brokenHeadings(at.page)).toEqual([]);
    // The authenticator cannot verify the user: the browser refuses (NotAllowedError), nothing is stored.
    await at.cdp!.send('WebAuthn.setUserVerified', { authenticatorId: at.authenticatorId!, isUserVerified: false });
    await at.page.getByRole('button', { name: EN.create }).click();
    await expect(at.page.getByRole('alert').textContent()).resolves.toBe('The passkey was not created. You can try again, or continue without one.');
    expect(await axeBothSchemes(at.page, 'passkey-offer refused')).toEqual([]);
    expect(await t.sesame.services.db.prisma.passkey.count({ where: { userId: (await userOf(email)).id } })).toBe(0);
    await at.cdp!.send('WebAuthn.setUserVerified', { authenticatorId: at.authenticatorId!, isUserVerified: true });
    await at.page.getByRole('button', { name: EN.create }).click();
    expect((await claimsOf(signedIn)).amr).toEqual(['email', 'otp']);
    expect(await t.sesame.services.db.prisma.passkey.count({ where: { userId: (await userOf(email)).id } })).toBe(1);
    expect(at.problems).toEqual([]);
  });

  it('without JavaScript shows only Continue, which signs in with the code', async () => {
    const at = await tab(await chromium.newContext({ javaScriptEnabled: false }), false);
    const signedIn = await signIn(at, nextEmail());
    await at.page.getByRole('heading', { name: EN.heading }).waitFor();
    expect(await at.page.getByRole('button').allTextContents()).toEqual([EN.cont]);
    await at.page.getByRole('button', { name: EN.cont }).click();
    expect((await claimsOf(signedIn)).amr).toEqual(['email', 'otp']);
  });
});
