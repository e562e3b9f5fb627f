// Login CSRF through an external connection's ticket (issue 11, item 3): the attacker signs in at
// the operator's login service and, instead of following the return URL, has a victim's browser
// open it. The ticket cookie it sets there belongs to the attacker's interaction: the victim's own
// later sign-in at the same client must not redeem it. On both engines (the binding is stored).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { startOperatorLogin, type OperatorLogin } from '../helpers/operator-login.js';
import { oidcFixture } from '../oidc/fixture.js';
import { createServiceClient } from '../../src/connections/external.js';
import type { ExternalConnection } from '../../src/config/schema.js';

const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe.each(ENGINES)('external connection tickets on %s', (engine) => {
  let operator: OperatorLogin;
  let t: TestSesame;

  beforeAll(async () => {
    operator = await startOperatorLogin();
    const corp = { id: 'corp', type: 'external', name: 'Corp login', authorizationUrl: operator.loginUrl, accountId: 'acct1' };
    t = await startTestSesame(engine, { ...oidcFixture, connections: [{ id: 'email', type: 'email' }, corp] });
    operator.settings.accessKey = (await createServiceClient(t.sesame.services.db, corp as ExternalConnection)).accessKey;
  });
  afterAll(async () => {
    await t?.stop();
    await operator?.stop();
  });

  /** A sign-in with connection=corp in `browser`, up to the operator's return URL for `userId`. */
  async function returnUrl(userId: string, browser = new FormClient()) {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config, { connection: 'corp' }, browser);
    const loginPage = await browser.follow(started.page.location!, `${operator.url}/`);
    const back = await browser.submit(loginPage, '/login', { user_id: userId }, `${operator.url}/`);
    expect(back.status).toBe(302);
    return { config, url: back.location! };
  }

  it("does not sign a victim in as the attacker through a callback URL opened in the victim's browser", async () => {
    const { config, url } = await returnUrl('attacker');
    const victim = new FormClient();
    // The callback hands the ticket to the attacker's interaction, which this browser does not hold.
    const landed = await victim.follow(url, t.url);
    expect([landed.status, new URL(landed.url).pathname]).toEqual([400, expect.stringMatching(/^\/interaction\/[\w-]+$/)]);
    expect(alertOf(landed.html)).toBe('This sign-in page has expired or was opened in another browser.');
    expect(victim.cookie('sesame.ticket')).toMatch(/^[\w-]{43}$/);

    // The victim's own sign-in at the same client, with that cookie in the browser: the email step.
    const own = await startLogin(t, config, {}, victim);
    expect([own.page.status, own.page.location]).toEqual([200, undefined]);
    expect(own.page.html).toContain('autocomplete="email"');
    expect(victim.cookieNames().filter((c) => c.startsWith('_session'))).toEqual([]);
  });

  it('still signs in the browser that went through the operator', async () => {
    const browser = new FormClient();
    const { url } = await returnUrl('user-1', browser);
    const done = await browser.follow(url, t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });
});
