// Attacks on the hosted second-factor page over HTTP, on both engines (races matter on PostgreSQL):
// one recovery code or one TOTP code posted at the same moment in two sign-ins of the user (one
// wins), and someone who has the user's first factor guessing the second from another network,
// which delays them only: the user's own sign-in goes through at once; a resend within the cooldown.
// Requesters are told apart by the loopback address their socket is bound to.
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin, type Started } from '../helpers/login.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { fetchFrom } from '../helpers/from-address.js';
import { codeFrom } from '../helpers/smtp.js';
import { confirmedOob, confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { oidcFixture } from '../oidc/fixture.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';

const APP = oidcFixture.clients[0]!;
const MFA_APP = { ...APP, client_id: 'mfa-app', client_name: 'MFA App', mfa_policy: 'enrolled' };
const SIGNED_IN = /^http:\/\/127\.0\.0\.1:9\/cb\?code=/;
const alertOf = (html: string) => /role="alert" id="form-error"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe.each(ENGINES)('attacks on the hosted MFA page on %s', (engine) => {
  let t: TestSesame;
  let app: oidc.Configuration;
  let n = 0;
  let network = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, {
      ...oidcFixture,
      clients: [...oidcFixture.clients, MFA_APP],
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: { type: 'capture' } },
      ],
      codes: { freeFailures: 3 },
    });
    app = await rpConfig(t, 'mfa-app', APP.client_secret);
  });
  afterAll(() => t?.stop());

  const s = () => t.sesame.services;

  async function enrolledUser() {
    const user = await upsertVerifiedEmailUser(s().db, `mfa-attack${++n}-${engine}@example.com`);
    const { secret } = await confirmedTotp(s(), user.id);
    const { authenticatorId: recoveryId, codes } = await generateRecoveryCodes(s(), user.id);
    return { user, email: user.email!, secret, recoveryId, codes };
  }

  /** An email code sign-in from a network of its own (`address`, else a fresh one), up to the MFA page. */
  async function atMfa(email: string, address = `127.6.${++network}.1`): Promise<{ started: Started; page: Page }> {
    const started = await startLogin(t, app, { prompt: 'login' }, new FormClient({}, fetchFrom(address)));
    const codePage = await started.browser.submit(started.page, '/email', { email }, t.url);
    expect(codePage.status).toBe(200);
    const page = await started.browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.url);
    expect([page.status, page.url]).toEqual([200, expect.stringMatching(/\/interaction\/[^/]+\/mfa$/)]);
    return { started, page };
  }

  const enter = (at: { started: Started; page: Page }, code: string, page = at.page) => at.started.browser.submit(page, '/mfa', { code }, t.url);
  const chooseRecovery = (at: { started: Started; page: Page }, id: string) => at.started.browser.follow(`${at.page.url}?factor=${encodeURIComponent(id)}`, t.url);

  it('takes one recovery code once when two sign-ins post it at the same moment', async () => {
    const u = await enrolledUser();
    const [a, b] = [await atMfa(u.email), await atMfa(u.email)];
    const [pageA, pageB] = [await chooseRecovery(a, u.recoveryId), await chooseRecovery(b, u.recoveryId)];
    const answers = await Promise.all([enter(a, u.codes[0]!, pageA), enter(b, u.codes[0]!, pageB)]);
    expect(answers.map((p) => p.status).sort()).toEqual([200, 400]);
    expect(answers.find((p) => p.status === 200)!.html).toContain('Recovery codes left: 9.');
    expect(alertOf(answers.find((p) => p.status === 400)!.html)).toBe('That recovery code is not right, or it was already used.');
    expect(await s().db.prisma.recoveryCode.count({ where: { userId: u.user.id, usedAt: null } })).toBe(9);
  });

  it('takes one TOTP code once when two sign-ins post it at the same moment', async () => {
    const u = await enrolledUser();
    const [a, b] = [await atMfa(u.email), await atMfa(u.email)];
    const code = totpCode(u.secret);
    const answers = await Promise.all([enter(a, code), enter(b, code)]);
    expect(answers.map((p) => p.status).sort()).toEqual([303, 400]);
    expect(answers.find((p) => p.status === 303)!.location).toMatch(SIGNED_IN);
    expect(alertOf(answers.find((p) => p.status === 400)!.html)).toBe('That code was already used. Wait for the next code in your authenticator app.');
  });

  it("delays only the network guessing the second factor, never the user's own sign-in", async () => {
    const u = await enrolledUser();
    const attacker = await atMfa(u.email, '127.7.0.1');
    const statuses: number[] = [];
    let page = attacker.page;
    for (let i = 0; i < 5; i++) {
      page = await enter(attacker, '000000', page);
      statuses.push(page.status);
    }
    expect(statuses).toEqual([400, 400, 400, 400, 429]);
    const user = await atMfa(u.email, '127.8.0.1');
    const done = await enter(user, totpCode(u.secret));
    expect(done.location).toMatch(SIGNED_IN);
  });

  it('answers a resend within the cooldown with the page, how long to wait and no new text', async () => {
    const u = await enrolledUser();
    const phone = `+1650253${String(2000 + n).slice(-4)}`;
    const smsId = await confirmedOob(s(), u.user.id, { type: 'sms', phoneNumber: phone });
    const at = await atMfa(u.email);
    const chosen = await at.started.browser.follow(`${at.page.url}?factor=${encodeURIComponent(smsId)}`, t.url);
    expect(chosen.status).toBe(200);
    const resent = await at.started.browser.submit(chosen, '/mfa/resend', {}, t.url);
    const wait = Number(resent.headers.get('retry-after'));
    expect([resent.status, alertOf(resent.html), wait > 0 && wait <= 30]).toEqual([429, `You can ask for another code in ${wait} s.`, true]);
    expect(resent.html).toContain('We sent a code by text message to');
    expect(await s().db.prisma.outboxMessage.count({ where: { channel: 'sms', recipient: phone } })).toBe(1);
  });

  it('answers the passkey routes of a user without a passkey factor with errors, never a 500', async () => {
    const u = await enrolledUser();
    const at = await atMfa(u.email);
    const options = (json: unknown) => at.started.browser.request(`${at.page.url}/passkey/options`, { method: 'POST', json, headers: { accept: 'application/json' } });
    const csrf = /name="csrf" value="([^"]+)"/.exec(at.page.html)![1]!;
    const forged = await options({ csrf: 'forged' });
    expect([forged.status, JSON.parse(forged.html)]).toEqual([403, { error: 'csrf', error_description: 'This form has expired. Reload the page and try again.' }]);
    const none = await options({ csrf });
    expect([none.status, JSON.parse(none.html)]).toEqual([400, { error: 'bad_request', error_description: 'a passkey is not one of your factors here' }]);
    const posted = await at.started.browser.request(`${at.page.url}/passkey`, { form: { csrf, handle: 'x', response: '{}' } });
    expect([posted.status, posted.html]).toEqual([400, expect.stringContaining('factor must be one of your factors')]);
    // None of it spent the sign-in: the TOTP code still finishes it.
    expect((await enter(at, totpCode(u.secret))).location).toMatch(SIGNED_IN);
  });

  it('sends a sign-in with no second factor pending back to its first step, GET or POST', async () => {
    const started = await startLogin(t, app, { prompt: 'login' });
    const uid = /\/interaction\/([^/?]+)/.exec(started.page.url)![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(started.page.html)![1]!;
    const shown = await started.browser.request(`${t.url}/interaction/${uid}/mfa`);
    const posted = await started.browser.request(`${t.url}/interaction/${uid}/mfa`, { form: { csrf, factor: 'totp|x', code: '123456' } });
    expect([shown.status, shown.headers.get('location'), posted.status, posted.headers.get('location')]).toEqual([303, `/interaction/${uid}`, 303, `/interaction/${uid}`]);
  });
});
