// The console's users pages in Chromium on both engines ("I lost my phone"): a user signed in to the
// test RP holds a refresh token, an authenticator app and a passkey; an admin signs in with a passkey
// (autofill), finds the user by email, ends their sessions (the refresh token then fails with
// invalid_grant), resets their factors and passkeys, and blocks them (their next hosted sign-in shows
// the blocked page). axe in light and dark mode on the search, account and delete pages; no
// horizontal scroll at 360px. Without JavaScript and the attacks: test/admin/admin-users.test.ts.
import type { BrowserContext, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAdmin } from '../../src/storage/users.js';
import { axeBothSchemes, brokenHeadings } from '../helpers/accessibility.js';
import { authorizationRequest } from '../helpers/authorization.js';
import { LOOPBACK_ONLY, useBrowser, watchProblems } from '../helpers/browser.js';
import { ENGINES } from '../helpers/databases.js';
import { confirmedTotp } from '../helpers/mfa-factors.js';
import { rpConfig } from '../helpers/login.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { addVirtualAuthenticator, plantCredential } from '../helpers/virtual-authenticator.js';
import { oidcFixture } from '../oidc/fixture.js';
import { userWithPasskey as sharedUserWithPasskey } from './passkey-admin.js';
import { USERS_FIXTURE, refusal, rpSignIn } from '../admin/admin-users-helpers.js';

describe.each(ENGINES)('admin console users in Chromium on %s', { timeout: 240_000 }, (engine) => {
  let t: TestSesame;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, USERS_FIXTURE);
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;

  const userWithPasskey = (email: string) => sharedUserWithPasskey(t, email);

  const noSideScroll = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

  it('finds a user who lost their phone, ends their sessions, resets their factors and blocks them; axe finds nothing', async () => {
    const email = `lost-phone-${engine}@example.com`;
    const holder = await userWithPasskey(email);
    const signedIn = await rpSignIn(t, email);
    await confirmedTotp(t.sesame.services, holder.user.id);

    const adminEmail = `chromium-admin-${engine}@example.com`;
    const admin = await userWithPasskey(adminEmail);
    await setAdmin(db(), admin.user.id, true);
    const context: BrowserContext = await chromium.newContext({ locale: 'en-US' });
    const current = await context.newPage();
    const problems = watchProblems(current);
    await plantCredential(await addVirtualAuthenticator(context, current), admin.credential);

    // Nothing typed: the email page's passkey autofill signs the admin in, back at the users page.
    await current.goto(`${t.issuer}/admin/users`);
    await current.waitForURL(`${t.issuer}/admin/users`);
    await current.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    const audit = [...(await axeBothSchemes(current, 'users search')), ...(await brokenHeadings(current))];

    await current.getByLabel('Email, phone number, name or user id').fill(email.toUpperCase());
    await current.getByRole('button', { name: 'Search' }).click();
    await current.waitForURL(/\/admin\/users\?q=/);
    audit.push(...(await axeBothSchemes(current, 'users results')));
    await current.getByRole('link', { name: email }).click();
    await current.waitForURL(`${t.issuer}/admin/users/${holder.user.id}`);
    await current.getByRole('heading', { name: 'User', level: 1 }).waitFor();
    expect(await current.locator('.lead').textContent()).toBe(email);
    audit.push(...(await axeBothSchemes(current, 'user page')), ...(await brokenHeadings(current)));
    const factors = current.getByRole('list', { name: 'Second factors and passkeys' }).getByRole('listitem');
    expect(await factors.count()).toBe(2);

    await current.getByRole('button', { name: 'End all sessions' }).click();
    await current.waitForURL(`${t.issuer}/admin/users/${holder.user.id}?done=sessions_ended`);
    expect(await current.getByRole('status').textContent()).toBe('Every session of the user has ended, with its tokens.');
    expect(await refusal(oidc.refreshTokenGrant(signedIn.rp, signedIn.tokens.refresh_token!))).toEqual({ error: 'invalid_grant', status: 400 });

    await current.getByRole('button', { name: 'Reset all second factors and passkeys' }).click();
    await current.waitForURL(`${t.issuer}/admin/users/${holder.user.id}?done=factors_reset`);
    expect(await current.getByText('No second factor and no passkey.').isVisible()).toBe(true);
    expect([await db().prisma.authenticator.count({ where: { userId: holder.user.id } }), await db().prisma.passkey.count({ where: { userId: holder.user.id } })]).toEqual([0, 0]);

    await current.getByRole('button', { name: 'Block this user' }).click();
    await current.waitForURL(`${t.issuer}/admin/users/${holder.user.id}?done=blocked`);
    expect(await current.getByRole('status').textContent()).toBe('The user is blocked. Their sessions and tokens have ended.');
    audit.push(...(await axeBothSchemes(current, 'user page, blocked')));

    await current.setViewportSize({ width: 360, height: 740 });
    expect(await noSideScroll(current)).toBe(true);
    await current.goto(`${t.issuer}/admin/users/${holder.user.id}/delete`);
    await current.getByRole('heading', { name: 'Delete this user?', level: 1 }).waitFor();
    expect(await noSideScroll(current)).toBe(true);
    audit.push(...(await axeBothSchemes(current, 'delete user')), ...(await brokenHeadings(current)));
    await current.goto(`${t.issuer}/admin/users?q=${encodeURIComponent(email)}`);
    expect(await noSideScroll(current)).toBe(true);

    // The user's next sign-in at the RP, in their own browser: the code is right, the page says blocked.
    const userPage = await (await chromium.newContext({ locale: 'en-US' })).newPage();
    const { url } = await authorizationRequest(await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret), { redirect_uri: 'http://127.0.0.1:9/cb', scope: 'openid email' });
    await userPage.goto(url.toString());
    await userPage.getByLabel('Email address').fill(email);
    await userPage.getByRole('button', { name: 'Email me a code' }).click();
    await userPage.getByLabel('Sign-in code').fill(codeFrom(await t.mail.next(email)));
    await userPage.getByRole('button', { name: 'Sign in', exact: true }).click();
    await userPage.getByRole('heading', { name: 'This account is blocked', level: 1 }).waitFor();
    expect(await userPage.getByText('The service has blocked this account, so it cannot sign in.').isVisible()).toBe(true);

    const by = `via console by admin:${admin.user.id}`;
    const rows = await db().prisma.auditEvent.findMany({ where: { userId: holder.user.id, reason: { endsWith: by } }, orderBy: { createdAt: 'asc' } });
    expect(rows.map((r) => r.type)).toEqual(['session.ended', 'mfa.reset', 'passkey.removed', 'user.blocked']);
    expect(audit).toEqual([]);
    expect(problems).toEqual([]);
  });
});
