// An external connection (PROTOCOLS.md section 2) in a real Chromium: the RP asks for
// `connection=corp`, Sesame hands the browser to the operator's login form
// (test/helpers/operator-login.ts, signing with the real @authress/sdk), the user types a user id,
// and the browser comes back through Sesame to the RP's redirect_uri with a code.
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthorization, useBrowser, type Walk } from '../helpers/browser.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, exchangeCode } from '../helpers/login.js';
import { startOperatorLogin, type OperatorLogin } from '../helpers/operator-login.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';
import { createServiceClient } from '../../src/connections/external.js';
import type { ExternalConnection } from '../../src/config/schema.js';

describe('external connection in Chromium', () => {
  let t: TestSesame;
  let operator: OperatorLogin;
  let config: oidc.Configuration;
  const chromium = useBrowser();

  beforeAll(async () => {
    operator = await startOperatorLogin();
    const corp: ExternalConnection = {
      id: 'corp',
      type: 'external',
      name: 'Corp login',
      authorizationUrl: `${operator.loginUrl}?tenant=acme`,
      accountId: 'acct1',
      trustEmails: false,
    };
    t = await startTestSesame('sqlite', { ...oidcFixture, connections: [{ id: 'email', type: 'email' }, corp] });
    // The CLI's way of issuing a key (test/connections/external.test.ts runs the CLI itself).
    operator.settings.accessKey = (await createServiceClient(t.sesame.services.db, corp)).accessKey;
    config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
  });
  afterAll(async () => {
    await t?.stop();
    await operator?.stop();
  });

  /** A fresh browser context at a new authorization request (PKCE S256) with `params`. */
  async function open(params: Record<string, string>): Promise<Walk> {
    const context = await chromium.newContext();
    return openAuthorization(context, config, { redirect_uri: REDIRECT, scope: 'openid email profile', ...params });
  }

  /**
   * At the operator's form: types the user id, submits, catches the browser's request to the RP's
   * redirect_uri (nothing serves 127.0.0.1:9) and redeems the code like the RP would.
   */
  async function signInAtOperator(walk: Walk, userId: string) {
    expect(new URL(walk.page.url()).origin).toBe(operator.url);
    const visit = operator.visits.at(-1)!;
    expect(visit.get('tenant')).toBe('acme');
    expect(visit.get('redirect_uri')).toBe(`${t.issuer.replace(/\/$/, '')}/connections/corp/callback`);
    expect(visit.get('state')).toMatch(/^[\w-]{43}$/);

    const atRp = walk.page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    await walk.page.getByLabel('User id').fill(userId);
    await walk.page.getByRole('button', { name: 'Sign in' }).click();
    const callback = new URL((await atRp).url());
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    expect(callback.searchParams.get('state')).toBe(walk.state);
    expect(callback.searchParams.get('iss')).toBe(t.issuer);
    const tokens = await exchangeCode(config, walk, callback);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ iss: t.issuer, aud: 'app', nonce: walk.nonce, sub: expect.any(String) });
    expect(walk.problems).toEqual([]);
    return claims;
  }

  it('signs in with connection=corp through the operator’s form', async () => {
    const walk = await open({ connection: 'corp' });
    await walk.page.getByLabel('User id').waitFor();
    expect(await walk.page.getByLabel('User id').inputValue()).toBe('');
    const first = await signInAtOperator(walk, 'user-1');

    // login_hint reaches the operator (its form prefills it); the same user id is the same user.
    const hinted = await open({ connection: 'corp', login_hint: 'user-1' });
    expect(await hinted.page.getByLabel('User id').inputValue()).toBe('user-1');
    expect(operator.visits.at(-1)!.get('login_hint')).toBe('user-1');
    expect((await signInAtOperator(hinted, 'user-1')).sub).toBe(first.sub);
  });

  it('signs in from the "Continue with Corp login" button of the email page', async () => {
    const walk = await open({});
    await walk.page.getByRole('button', { name: 'Continue with Corp login' }).click();
    await walk.page.getByLabel('User id').waitFor();
    const claims = await signInAtOperator(walk, 'user-2');
    expect(claims).not.toHaveProperty('email');
  });
});
