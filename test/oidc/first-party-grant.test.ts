// First-party clients are granted what they ask for where oidc-provider loads the grant
// (oidc/first-party-grant.ts), so a sign-in goes from the code straight back to the app without a
// consent interaction; what the grant holds is exactly what was asked for, and only first-party
// clients get it without asking.
import type * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin, type Started, exchangeCode } from '../helpers/login.js';
import { FormClient } from '../helpers/form-client.js';
import { oidcFixture } from './fixture.js';

/** A browser that records the path of every request it makes (the redirect hops included). */
function recordingBrowser() {
  const paths: string[] = [];
  const browser = new FormClient({}, (input, init) => {
    paths.push(new URL(String(input)).pathname.replace(/\/interaction\/[^/]+/, '/interaction/:uid').replace(/\/authorize\/[^/]+/, '/authorize/:uid'));
    return fetch(input, init);
  });
  return { browser, paths };
}

async function redeem(config: oidc.Configuration, started: Started, location: string | undefined) {
  expect(location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  return exchangeCode(config, started, location);
}

describe.each(ENGINES)('first-party grant on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, oidcFixture);
  });
  afterAll(() => t?.stop());

  it('goes from the code straight back to the app, granted exactly what was asked for', async () => {
    const app = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const { browser, paths } = recordingBrowser();
    const started = await startLogin(t, app, { audience: 'https://api.example', scope: 'openid email read' }, browser);
    const { result } = await signInWithEmail(t, started, 'first@example.com');
    // One interaction only: after the code, the resumed request answers the app.
    expect(paths).toEqual(['/authorize', '/interaction/:uid', '/interaction/:uid/email', '/interaction/:uid', '/interaction/:uid/code', '/authorize/:uid']);
    const tokens = await redeem(app, started, result.location);
    // The API's token carries the API scope asked for, not the API's other one (write).
    expect(tokens.scope).toBe('read');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: 'https://api.example', scope: 'read', client_id: 'app' });
    expect(tokens.claims()).toMatchObject({ email: 'first@example.com', email_verified: true });

    // The same session asking for more: granted too, still without a page.
    paths.length = 0;
    const more = await startLogin(t, app, { audience: 'https://api.example', scope: 'openid email read write' }, browser);
    expect(paths).toEqual(['/authorize']);
    const moreTokens = await redeem(app, more, more.page.location);
    expect(decodeJwt(moreTokens.access_token)).toMatchObject({ aud: 'https://api.example', scope: 'read write' });

    // A silent request (prompt=none) asking for a scope not granted yet: granted as well, where a
    // consent interaction would have answered consent_required.
    paths.length = 0;
    const silent = await startLogin(t, app, { prompt: 'none', scope: 'openid email phone' }, browser);
    expect(paths).toEqual(['/authorize']);
    expect((await redeem(app, silent, silent.page.location)).scope).toBe('openid email phone');

    // prompt=consent asks for the consent step itself: it still runs (and approves, first-party).
    paths.length = 0;
    const asked = await startLogin(t, app, { prompt: 'consent' }, browser);
    expect(paths).toEqual(['/authorize', '/interaction/:uid', '/authorize/:uid']);
    expect((await redeem(app, asked, asked.page.location)).scope).toBe('openid email');
  });

  it('still asks for consent for a third-party client in the same signed-in browser', async () => {
    const app = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, app);
    const { result } = await signInWithEmail(t, started, 'second@example.com');
    await redeem(app, started, result.location);

    const partner = await rpConfig(t, 'partner', oidcFixture.clients[1]!.client_secret);
    const asked = await startLogin(t, partner, { ui_locales: 'en' }, started.browser);
    expect(asked.page.status).toBe(200);
    expect(asked.page.html).toContain('<h1>Allow Partner to access your account?</h1>');
    // Nothing was granted to it meanwhile: its code only comes after the user allows.
    const allowed = await started.browser.submit(asked.page, '/consent', { decision: 'allow' }, t.url);
    expect((await redeem(partner, asked, allowed.location)).scope).toBe('openid email');
  });
});
