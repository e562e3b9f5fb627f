// A hosted passkey sign-in under a CHALLENGE rule that names passkeys, on both engines, over HTTP
// with a software authenticator (as test/hosted/passkey-signin.test.ts): the passkey just used meets
// the challenge, so the sign-in goes straight to the app and the decision records it; a code
// sign-in of the same user on the same rule stops at the second-factor page instead.
import type * as oidc from 'openid-client';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishRegistration, startRegistration } from '../../src/passwordless/passkeys.js';
import { findDecisionByInteraction } from '../../src/storage/action-decisions.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { findForm } from '../helpers/form-client.js';
import { rpConfig, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';

const APP = oidcFixture.clients[0]!;
const STRICT = {
  rules: [{ ruleId: 'strong', name: 'Strong methods only', type: 'CHALLENGE', verificationMethods: ['PASSKEY', 'AUTHENTICATOR_APP'], conditions: true }],
};

describe.each(ENGINES)('hosted passkey sign-in under a risk challenge on %s', (engine) => {
  let t: TestSesame;
  let site: TestSesame;
  let config: oidc.Configuration;
  beforeAll(async () => {
    const port = await freePort();
    t = await startTestSesame(
      engine,
      { ...oidcFixture, port, passkeys: { offerEnrolment: false }, actions: { policies: { signIn: STRICT } } },
      { issuer: `http://localhost:${port}` },
    );
    site = { ...t, url: t.issuer };
    config = await rpConfig(t, 'app', APP.client_secret);
  });
  afterAll(() => t?.stop());

  it('meets the challenge with the passkey just used; a code of the same user must add a second factor', async () => {
    const deps = t.sesame.services;
    const email = `${randomUUID()}@example.test`;
    const user = await upsertVerifiedEmailUser(deps.db, email);
    const device = new SoftAuthenticator({ origin: t.issuer });
    const reg = await startRegistration(deps, { user }, { boundTo: 'test' });
    await insertPasskey(deps.db, { ...(await finishRegistration(deps, reg.handle, device.register(reg.options), { boundTo: 'test' })).credential, userId: user.id });

    const started = await startLogin(site, config, { prompt: 'login' });
    const form = findForm(started.page.html, '/passkey');
    const answer = await started.browser.request(new URL(`${form.action}/options`, t.issuer).toString(), { method: 'POST', json: { csrf: form.fields.csrf } });
    const { handle, options } = JSON.parse(answer.html) as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
    const done = await started.browser.submit(started.page, '/passkey', { handle, response: JSON.stringify(device.authenticate(options)) }, t.issuer);
    expect(done.location?.startsWith(`${REDIRECT}?code=`)).toBe(true);
    const uid = /\/interaction\/([^/?]+)/.exec(started.page.url)![1]!;
    const row = (await findDecisionByInteraction(deps.db, uid))!;
    expect([row.outcome, row.state, row.verificationMethod, JSON.parse(row.ruleIds)]).toEqual(['CHALLENGE', 'CHALLENGE_SUCCEEDED', 'PASSKEY', ['strong']]);
    const tokens = await exchangeCode(config, started, done.location);
    expect(tokens.claims()).toMatchObject({ sub: user.id, amr: ['hwk', 'user'] });

    const byCode = await signInWithEmail(site, await startLogin(site, config, { prompt: 'login' }), email);
    expect(byCode.result.status).toBe(200);
    expect(byCode.result.url).toMatch(/\/interaction\/[^/]+\/mfa$/);
  });
});
