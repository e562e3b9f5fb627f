// Sesame's own hosted sign-ins decided by the risk engine, on both engines, without JavaScript:
// a progressive policy (a code on a new device must be followed by a passkey or an authenticator
// app, the same browser later goes straight through), BLOCK and REVIEW by the requester address
// behind a trusted proxy (X-Forwarded-For, trustProxy 1), the review approved, denied and expired,
// the operator told (signed webhook), and what an attacker tries: a spoofed left X-Forwarded-For
// entry, resuming by hand, another browser on the review page. A client whose action has no
// policy writes no decision at all.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin, type Started } from '../helpers/login.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { startGateway, verify, type FakeGateway } from '../delivery/sms-fixture.js';
import { oidcFixture } from '../oidc/fixture.js';
import { settleReview } from '../../src/passwordless/action-results.js';
import { findDecisionByInteraction, type ActionDecisionRow } from '../../src/storage/action-decisions.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';

const APP = oidcFixture.clients[0]!;
const PROGRESSIVE_APP = { ...APP, client_id: 'progressive-app', client_name: 'Progressive App', risk_action: 'progressive' };
const GATE_APP = { ...APP, client_id: 'gate-app', client_name: 'Gate App', risk_action: 'gate' };
const SECRET = 'review-secret-review-secret-review-secret';
const BLOCKED_IP = '203.0.113.66';
const REVIEW_IP = '203.0.113.77';
const SIGNED_IN = /^http:\/\/127\.0\.0\.1:9\/cb\?code=/;

const POLICIES = {
  progressive: {
    defaultOutcome: 'ALLOW',
    rules: [
      {
        ruleId: 'new-device',
        name: 'A new device needs a passkey or an authenticator app',
        type: 'CHALLENGE',
        verificationMethods: ['PASSKEY', 'AUTHENTICATOR_APP'],
        conditions: { and: [{ '==': [{ var: 'device.isNew' }, true] }, { '!=': [{ var: 'signIn.method' }, 'PASSKEY'] }] },
      },
    ],
  },
  gate: {
    defaultOutcome: 'ALLOW',
    rules: [
      { ruleId: 'bad-ip', name: 'Known bad address', type: 'BLOCK', conditions: { '==': [{ var: 'ip.address' }, BLOCKED_IP] } },
      { ruleId: 'odd-ip', name: 'Odd address', type: 'REVIEW', conditions: { '==': [{ var: 'ip.address' }, REVIEW_IP] } },
    ],
  },
};

describe.each(ENGINES)('hosted sign-ins decided by risk policies on %s', (engine) => {
  let t: TestSesame;
  let hook: FakeGateway;
  let n = 0;
  beforeAll(async () => {
    hook = await startGateway(SECRET);
    t = await startTestSesame(engine, {
      ...oidcFixture,
      clients: [...oidcFixture.clients, PROGRESSIVE_APP, GATE_APP],
      trustProxy: 1,
      codes: { resendCooldown: 1 },
      actions: { policies: POLICIES, reviewWebhook: { url: hook.url, secret: SECRET } },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await hook?.close();
  });

  const db = () => t.sesame.services.db;
  const nextEmail = () => `risk${++n}-${engine}@example.com`;
  const uidOf = (page: Page) => /\/interaction\/([^/?]+)/.exec(page.url)![1]!;

  /** An email code sign-in to `clientId` from `ip` (as the trusted proxy says), up to what follows the code. */
  async function signIn(clientId: string, email: string, ip: string, browser = new FormClient({ 'x-forwarded-for': ip })) {
    const started = await startLogin(t, await rpConfig(t, clientId, APP.client_secret), { prompt: 'login' }, browser);
    const codePage = await waitFor(
      async () => {
        const page = await started.browser.submit(started.page, '/email', { email }, t.url);
        return page.status === 200 && page;
      },
      { timeout: 10_000, interval: 200, what: 'the code page' },
    );
    const code = codeFrom(await t.mail.next(email));
    return { started, page: await started.browser.submit(codePage, '/code', { code }, t.url) };
  }

  async function codeAt(clientId: string, started: Started, location: string | undefined) {
    expect(location).toMatch(SIGNED_IN);
    const tokens = await oidc.authorizationCodeGrant(await rpConfig(t, clientId, APP.client_secret), new URL(location!), {
      pkceCodeVerifier: started.verifier,
      expectedState: started.state,
      expectedNonce: started.nonce,
    });
    return tokens.claims()!;
  }

  const decisionOf = async (page: Page): Promise<ActionDecisionRow> => (await findDecisionByInteraction(db(), uidOf(page)))!;
  const factsOf = (row: ActionDecisionRow) => (JSON.parse(row.explanation) as { facts: unknown }).facts;

  it('challenges a code on a new device with the authenticator app only, then lets the same browser straight through', async () => {
    const email = nextEmail();
    const user = await upsertVerifiedEmailUser(db(), email);
    const { secret } = await confirmedTotp(t.sesame.services, user.id);
    const browser = new FormClient({ 'x-forwarded-for': '198.51.100.10' });
    const first = await signIn('progressive-app', email, '198.51.100.10', browser);
    const uid = uidOf(first.page);
    expect([first.page.status, first.page.url]).toEqual([200, `${t.url}/interaction/${uid}/mfa`]);
    expect(first.page.html).toContain('<h1>Confirm it is you</h1>');
    // The rule's methods only: no recovery codes and no other way offered.
    expect(first.page.html).not.toMatch(/\/mfa\?factor=/);
    const held = await decisionOf(first.page);
    expect([held.tenantId, held.userId, held.principalId, held.actionCode, held.outcome, held.state, held.ip]).toEqual([
      'progressive-app', user.id, user.id, 'progressive', 'CHALLENGE', 'CHALLENGE_REQUIRED', '198.51.100.10',
    ]); // prettier-ignore
    expect(factsOf(held)).toEqual({ device: { isNew: true }, signIn: { method: 'EMAIL_OTP' } });

    // Resuming by hand while the challenge waits gives the RP nothing.
    const resumed = await browser.follow(`${t.issuer}/auth/${uid}`, t.url);
    expect(resumed.location).toBeUndefined();

    const done = await browser.submit(first.page, '/mfa', { code: totpCode(secret) }, t.url);
    const claims = await codeAt('progressive-app', first.started, done.location);
    expect([claims.sub, claims.amr]).toEqual([user.id, ['email', 'otp', 'mfa']]);
    const passed = (await db().prisma.actionDecision.findUnique({ where: { id: held.id } }))!;
    expect([passed.state, passed.verificationMethod]).toEqual(['CHALLENGE_SUCCEEDED', 'AUTHENTICATOR_APP']);

    // The same browser (its device cookie has a passed decision) goes straight through.
    const again = await signIn('progressive-app', email, '198.51.100.10', browser);
    await codeAt('progressive-app', again.started, again.page.location);
    const allowed = await decisionOf(again.started.page);
    expect([allowed.outcome, allowed.state, allowed.deviceId]).toEqual(['ALLOW', 'ALLOW', held.deviceId]);
    expect(factsOf(allowed)).toEqual({ device: { isNew: false }, signIn: { method: 'EMAIL_OTP' } });
  });

  it('sends a user without any of the methods to the enrolment, offering the authenticator app only', async () => {
    const email = nextEmail();
    await upsertVerifiedEmailUser(db(), email);
    const at = await signIn('progressive-app', email, '198.51.100.11');
    const uid = uidOf(at.page);
    expect([at.page.status, at.page.url]).toEqual([200, `${t.url}/interaction/${uid}/mfa/enrol`]);
    expect(at.page.html).toContain('/mfa/enrol/totp');
    expect(at.page.html).not.toMatch(/\/mfa\/enrol\/(sms|email)/);
  });

  it('blocks by the address the trusted proxy saw, whatever the client wrote before it; the RP gets access_denied and the page names no rule', async () => {
    const email = nextEmail();
    const browser = new FormClient({ 'x-forwarded-for': `198.51.100.99, ${BLOCKED_IP}` });
    const at = await signIn('gate-app', email, BLOCKED_IP, browser);
    const uid = uidOf(at.page);
    expect([at.page.status, at.page.url]).toEqual([403, `${t.url}/interaction/${uid}/blocked`]);
    expect(at.page.html).toContain('<h1>This sign-in was blocked</h1>');
    expect(at.page.html).toContain('For your security, this sign-in to Gate App was not allowed.');
    expect(at.page.html).not.toMatch(/bad-ip|Known bad address|203\.0\.113/);
    const row = await decisionOf(at.page);
    expect([row.outcome, row.state, row.ip, JSON.parse(row.ruleIds)]).toEqual(['BLOCK', 'BLOCK', BLOCKED_IP, ['bad-ip']]);

    const back = /<a class="primary" href="([^"]+)"/.exec(at.page.html)![1]!;
    const answer = await browser.follow(back.replaceAll('&amp;', '&'), t.url);
    const rp = new URL(answer.location!);
    expect([rp.origin + rp.pathname, rp.searchParams.get('error'), rp.searchParams.get('state')]).toEqual(['http://127.0.0.1:9/cb', 'access_denied', at.started.state]);
    expect(rp.searchParams.get('code')).toBeNull();
  });

  /** A sign-in held for review: the page, the decision, the operator's webhook. */
  async function heldForReview() {
    const email = nextEmail();
    const browser = new FormClient({ 'x-forwarded-for': REVIEW_IP });
    const at = await signIn('gate-app', email, REVIEW_IP, browser);
    const uid = uidOf(at.page);
    expect([at.page.status, at.page.url]).toEqual([200, `${t.url}/interaction/${uid}/review`]);
    expect(at.page.html).toContain('<h1>Your sign-in is being reviewed</h1>');
    expect(at.page.html).toContain(`<a class="primary" href="/interaction/${uid}/review">Check again</a>`);
    expect(at.page.headers.get('cache-control')).toBe('no-store');
    const row = await decisionOf(at.page);
    expect([row.outcome, row.state]).toEqual(['REVIEW', 'REVIEW_REQUIRED']);
    const seen = await waitFor(() => hook.delivered.find((r) => r.raw.includes(row.id)), { timeout: 10_000, what: 'the review webhook' });
    expect(verify(SECRET, seen.headers['x-sesame-signature'] as string, seen.raw)).toBe(true);
    expect(JSON.parse(seen.raw)).toEqual({
      type: 'action.review_required',
      decisionId: row.id,
      clientId: 'gate-app',
      userId: row.userId,
      actionCode: 'gate',
      ruleIds: ['odd-ip'],
      ip: REVIEW_IP,
      createdAt: row.createdAt.toISOString(),
    });
    return { ...at, browser, uid, row, check: () => browser.follow(`${t.url}/interaction/${uid}/review`, t.url) };
  }

  it('holds a sign-in for review, gives nothing on a hand resume or to another browser, and goes on once approved', async () => {
    const held = await heldForReview();
    const resumed = await held.browser.follow(`${t.issuer}/auth/${held.uid}`, t.url);
    expect(resumed.location).toBeUndefined();
    const still = await held.check();
    expect([still.status, still.html.includes('<h1>Your sign-in is being reviewed</h1>')]).toEqual([200, true]);

    const stranger = await new FormClient().follow(`${t.url}/interaction/${held.uid}/review`, t.url);
    expect(stranger.html).not.toContain('reviewed');
    expect(stranger.html).not.toContain('Check again');

    expect(await settleReview(db(), held.row, true, 'operator')).toBe(true);
    const done = await held.check();
    const claims = await codeAt('gate-app', held.started, done.location);
    expect(claims.sub).toBe(held.row.userId);
    // Told once, however often the page was checked (the webhook is stored with the decision).
    expect(hook.requests.filter((r) => r.raw.includes(held.row.id))).toHaveLength(1);
  });

  it('answers access_denied once the review is denied', async () => {
    const held = await heldForReview();
    expect(await settleReview(db(), held.row, false, 'operator')).toBe(true);
    const page = await held.check();
    expect([page.status, page.url]).toEqual([403, `${t.url}/interaction/${held.uid}/blocked`]);
    const back = /<a class="primary" href="([^"]+)"/.exec(page.html)![1]!;
    const answer = await held.browser.follow(back.replaceAll('&amp;', '&'), t.url);
    expect(new URL(answer.location!).searchParams.get('error')).toBe('access_denied');
  });

  it('counts a review older than actions.reviewTimeout as denied', async () => {
    const held = await heldForReview();
    await db().prisma.actionDecision.update({ where: { id: held.row.id }, data: { stateUpdatedAt: new Date(Date.now() - 3601_000) } });
    const page = await held.check();
    expect([page.status, page.url]).toEqual([403, `${t.url}/interaction/${held.uid}/blocked`]);
    const row = (await db().prisma.actionDecision.findUnique({ where: { id: held.row.id } }))!;
    expect([row.state, row.reviewedBy]).toEqual(['REVIEW_FAILED', 'timeout']);
  });

  it('writes no decision for a client whose action has no policy', async () => {
    const email = nextEmail();
    const at = await signIn('app', email, '198.51.100.12');
    await codeAt('app', at.started, at.page.location);
    expect(await db().prisma.actionDecision.count({ where: { tenantId: 'app' } })).toBe(0);
  });
});
