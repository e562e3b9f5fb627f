// @userfront/core itself (its browser bundle; it needs window, document and cookies) in Chromium,
// pointed at Sesame with `baseUrl`: a tenant app on https://localhost sends a login link, the
// emailed link opens its login page, the SDK logs in with the link's token and uuid, stores the
// tokens as cookies with the options Sesame gave, refreshes, and logs out (the grant is revoked).
// Both servers speak HTTPS with the run's test certificate, as a live Userfront app would.
import { decodeJwt } from 'jose';
import { type BrowserContext, type Page } from 'playwright-core';
import { useBrowser } from '../helpers/browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { startUserfrontApp, type UserfrontApp, userfrontTenant } from '../helpers/userfront-app.js';

const TENANT = 'demo1234';

interface Opened {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors. */
  problems: string[];
}

describe('@userfront/core in Chromium against Sesame', () => {
  let t: TestSesame;
  let app: UserfrontApp;
  const chromium = useBrowser();

  beforeAll(async () => {
    const port = await freePort();
    app = await startUserfrontApp({ sesamePort: port, tenantId: TENANT });
    const tenant = userfrontTenant(TENANT, {
      client_name: 'Demo',
      initiate_login_uri: `${app.origin}/login`,
      redirect_uris: [`${app.origin}/dashboard`],
      post_logout_redirect_uris: [`${app.origin}/login`],
      web_origins: [app.origin],
    });
    t = await startTestSesame('sqlite', { clients: [tenant], port }, { tls: true, issuer: `https://localhost:${port}/` });
  });
  afterAll(async () => {
    await app?.close();
    await t?.stop();
  });

  /** The app's `path` in a fresh context (Chromium does not know the test CA: ignoreHTTPSErrors). */
  async function open(path: string): Promise<Opened> {
    const context = await chromium.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) problems.push(`${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => problems.push(error.message));
    expect((await page.goto(`${app.origin}${path}`))?.status()).toBe(200);
    return { context, page, problems };
  }

  /** What the app wrote after the last SDK call. */
  async function result(page: Page): Promise<{ kind: string; value: unknown }> {
    const out = page.locator('#result:not([data-kind=pending]):not([data-kind=idle])');
    await out.waitFor();
    return { kind: (await out.getAttribute('data-kind'))!, value: JSON.parse((await out.textContent()) || 'null') };
  }

  /** The user and tokens the SDK holds on the dashboard, as the page shows them after loading. */
  async function dashboardState(page: Page) {
    await page.waitForURL(`${app.origin}/dashboard`);
    return JSON.parse((await page.locator('#state').textContent())!) as Record<string, string | undefined>;
  }

  /** The SDK's cookies in the browser: name → the cookie. */
  async function cookies(context: BrowserContext) {
    return Object.fromEntries((await context.cookies(app.origin)).map((c) => [c.name, c]));
  }

  it('sendLoginLink → link from the email → login with {token, uuid} → refresh → logout', async () => {
    const email = 'ada@example.com';
    const start = await open('/login');
    await start.page.getByLabel('Email').fill(email);
    await start.page.getByRole('button', { name: 'Send link' }).click();
    expect(await result(start.page)).toEqual({ kind: 'ok', value: { message: 'OK', result: { email } } });

    // The link leads to the app's login page, where the SDK reads token and uuid from the URL.
    const link = linkFrom(await t.mail.next(email), '/login');
    expect(link).toMatch(new RegExp(`^${app.origin}/login\\?token=[\\w-]{43}&uuid=[0-9a-f-]{36}$`));
    const { context, page, problems } = await open(new URL(link).pathname + new URL(link).search);
    const state = await dashboardState(page);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect(state).toEqual({ email, accessToken: expect.any(String), idToken: expect.any(String), refreshToken: expect.any(String) });
    expect(decodeJwt(state.accessToken!)).toMatchObject({ sub: user.id, aud: `${t.url}/v0/tenants/${TENANT}`, tenantId: TENANT, sessionId: expect.any(String) });

    // js-cookie stored the tokens with Sesame's options: Secure on an https app, refresh SameSite=Strict.
    const stored = await cookies(context);
    expect(Object.keys(stored).sort()).toEqual([`access.${TENANT}`, `id.${TENANT}`, `refresh.${TENANT}`]);
    expect(stored[`access.${TENANT}`]).toMatchObject({ value: state.accessToken, secure: true, sameSite: 'Lax', httpOnly: false });
    expect(stored[`refresh.${TENANT}`]).toMatchObject({ value: state.refreshToken, secure: true, sameSite: 'Strict' });
    expect(stored[`refresh.${TENANT}`]!.expires * 1000 - Date.now()).toBeGreaterThan(13.9 * 86400_000);

    // The access token is a JWT the SDK can read, so it counts the user as logged in.
    await page.getByRole('button', { name: 'Session' }).click();
    expect(await result(page)).toEqual({ kind: 'ok', value: true });

    await page.getByRole('button', { name: 'Refresh' }).click();
    const refreshed = (await result(page)) as { kind: string; value: Record<string, string> };
    expect(refreshed).toEqual({ kind: 'ok', value: { ...state, accessToken: expect.any(String), idToken: expect.any(String), refreshToken: expect.any(String) } });
    expect(refreshed.value.refreshToken).not.toBe(state.refreshToken);
    expect(decodeJwt(refreshed.value.accessToken!).sessionId).toBe(decodeJwt(state.accessToken!).sessionId);
    expect((await cookies(context))[`refresh.${TENANT}`]?.value).toBe(refreshed.value.refreshToken);

    // Logout: the SDK clears its cookies and goes to the page Sesame names; the grant is revoked.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${app.origin}/login`);
    expect(await cookies(context)).toEqual({});
    const after = await fetch(`${t.url}/v0/auth/refresh`, { headers: { authorization: `Bearer ${refreshed.value.refreshToken}` } });
    expect([after.status, await after.json()]).toEqual([401, { statusCode: 401, error: 'Unauthorized', message: 'Invalid or expired refresh token.' }]);
    expect(problems).toEqual([]);
    expect(start.problems).toEqual([]);
  });

  it('sendVerificationCode → code from the email → login with the code → dashboard', async () => {
    const email = 'grace@example.com';
    const { page, problems } = await open('/login');
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Send code' }).click();
    expect(await result(page)).toEqual({ kind: 'ok', value: { message: 'OK', result: { channel: 'email', email } } });
    await page.getByLabel('Code').fill(codeFrom(await t.mail.next(email)));
    await page.getByRole('button', { name: 'Log in with code' }).click();
    expect(await dashboardState(page)).toEqual({ email, accessToken: expect.any(String), idToken: expect.any(String), refreshToken: expect.any(String) });
    expect(problems).toEqual([]);
  });

  it("gives a used link to the page as the SDK's error, with Sesame's message", async () => {
    const email = 'linus@example.com';
    const start = await open('/login');
    await start.page.getByLabel('Email').fill(email);
    await start.page.getByRole('button', { name: 'Send link' }).click();
    await result(start.page);
    const link = new URL(linkFrom(await t.mail.next(email), '/login'));
    const first = await open(link.pathname + link.search);
    await dashboardState(first.page);

    const second = await open(link.pathname + link.search);
    expect(await result(second.page)).toEqual({ kind: 'error', value: { message: 'This login link was already used. Ask for a new one.' } });
    expect(second.page.url()).toBe(link.href);
    // Chromium logs the 401 itself as a failed resource load; nothing else.
    expect(second.problems).toEqual([expect.stringMatching(/status of 401 .*\/v0\/tenants\/demo1234\/auth\/link\)$/)]);
  });
});
