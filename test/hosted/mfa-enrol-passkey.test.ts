// The hosted MFA enrolment of a passkey over HTTP with a software authenticator (issue 15 item 3),
// on a localhost issuer (passkeys need one): registration options for the pending user only, the
// challenge bound to this interaction's enrolment (another interaction's is refused), bad input
// answered with the page, then recovery codes and the MFA amr. In Chromium: test/browser/mfa-enrol.test.ts.
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { findForm } from '../helpers/form-client.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { oidcFixture } from '../oidc/fixture.js';
import { MFA_ACR } from '../../src/oidc/acr.js';

const APP_SECRET = oidcFixture.clients[0]!.client_secret;
const alertOf = (html: string) => /role="alert" id="form-error"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
const h1Of = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];
const RECOVERY_CODE = /<li><code>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})<\/code><\/li>/g;

describe.each(ENGINES)('MFA enrolment of a passkey over HTTP on %s', (engine) => {
  let t: TestSesame;
  let app: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, { ...oidcFixture, mfa: { policy: 'always' }, passkeys: { offerEnrolment: false } });
    app = await rpConfig(t, 'app', APP_SECRET);
  });
  afterAll(() => t?.stop());

  async function atPasskey() {
    const email = `passkey-enrol${++n}-${engine}@example.com`;
    const started = await startLogin(t, app, { prompt: 'login' });
    const { result } = await signInWithEmail(t, started, email);
    const uid = /\/interaction\/([^/]+)\/mfa/.exec(result.url)![1]!;
    const choice = await started.browser.request(`${t.url}/interaction/${uid}/mfa/enrol`);
    expect(choice.html).toContain('<h2 class="item-title" id="factor-passkey">Passkey</h2>');
    const page = await started.browser.request(`${t.url}/interaction/${uid}/mfa/enrol/passkey`);
    expect([page.status, h1Of(page.html)]).toEqual([200, 'Create a passkey']);
    return { started, uid, email, page };
  }

  async function ceremony(at: Awaited<ReturnType<typeof atPasskey>>, device: SoftAuthenticator) {
    const csrf = findForm(at.page.html, '/mfa/enrol/passkey').fields.csrf!;
    const answer = await at.started.browser.request(`${t.url}/interaction/${at.uid}/mfa/enrol/passkey/options`, { method: 'POST', json: { csrf } });
    expect(answer.status).toBe(200);
    const { handle, options } = JSON.parse(answer.html) as { handle: string; options: Parameters<SoftAuthenticator['register']>[0] };
    expect(options.user.name).toBe(at.email);
    return { handle, response: JSON.stringify(device.register(options)) };
  }

  it('enrols a passkey for the pending user; a challenge of another interaction is refused', async () => {
    const device = new SoftAuthenticator({ origin: t.issuer });
    const other = await atPasskey();
    const stolen = await ceremony(other, new SoftAuthenticator({ origin: t.issuer }));
    const at = await atPasskey();
    const refused = await at.started.browser.submit(at.page, '/mfa/enrol/passkey', { ...stolen, decision: 'create' }, t.url);
    expect([refused.status, alertOf(refused.html)]).toEqual([400, 'This passkey request has expired or was already used. Start again.']);
    const bad = await at.started.browser.submit(at.page, '/mfa/enrol/passkey', { handle: 'x', response: '{not json' }, t.url);
    expect([bad.status, alertOf(bad.html)]).toEqual([400, 'Your passkey could not be verified. Try again, or sign in with a code.']);

    const codes = await at.started.browser.submit(at.page, '/mfa/enrol/passkey', { ...(await ceremony(at, device)), decision: 'create' }, t.url);
    expect([codes.status, [...codes.html.matchAll(RECOVERY_CODE)].length]).toEqual([200, 10]);
    const done = await at.started.browser.submit(codes, '/mfa/enrol/recovery', { saved: 'yes' }, t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const tokens = await exchangeCode(app, at.started, done.location);
    expect([tokens.claims()!.amr, tokens.claims()!.acr]).toEqual([['email', 'otp', 'hwk', 'user', 'mfa'], MFA_ACR]);
    const passkeysOf = async (email: string) => {
      const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
      return t.sesame.services.db.prisma.passkey.count({ where: { userId: user.id } });
    };
    expect([await passkeysOf(at.email), await passkeysOf(other.email)]).toEqual([1, 0]);
  });
});
