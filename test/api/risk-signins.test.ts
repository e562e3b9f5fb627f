// The OTP grant decided by the client's risk action, on both engines: BLOCK and REVIEW answer 403
// access_denied (REVIEW saying it is held), CHALLENGE answers Auth0's mfa_required listing only the
// rule's methods (a challenge for a user who has one, an enrolment for one who has none), ALLOW
// issues tokens. The requester address is the one the trusted client forwards (auth0-forwarded-for).
// A client without a policy for its action writes no decision.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { confirmedTotp } from '../helpers/mfa-factors.js';
import { apiFixture, OTP } from './fixture.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { deleteActionConfiguration, saveActionConfiguration } from '../../src/storage/action-tenants.js';

const NATIVE = apiFixture.clients[0]!;
const GATED = { ...NATIVE, client_id: 'gated', risk_action: 'gate' };
const BLOCKED_IP = '203.0.113.66';
const REVIEW_IP = '203.0.113.77';
const CHALLENGE_IP = '203.0.113.88';

const GATE = {
  defaultOutcome: 'ALLOW',
  rules: [
    { ruleId: 'bad-ip', name: 'Known bad address', type: 'BLOCK', conditions: { '==': [{ var: 'ip.address' }, BLOCKED_IP] } },
    { ruleId: 'odd-ip', name: 'Odd address', type: 'REVIEW', conditions: { '==': [{ var: 'ip.address' }, REVIEW_IP] } },
    {
      ruleId: 'code-needs-app',
      name: 'A code from here needs the authenticator app',
      type: 'CHALLENGE',
      verificationMethods: ['AUTHENTICATOR_APP'],
      conditions: { and: [{ '==': [{ var: 'ip.address' }, CHALLENGE_IP] }, { '==': [{ var: 'signIn.method' }, 'EMAIL_OTP'] }] },
    },
  ],
};

describe.each(ENGINES)('the OTP grant decided by risk policies on %s', (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, {
      ...apiFixture,
      clients: [...apiFixture.clients, GATED],
      codes: { resendCooldown: 1 },
      actions: { policies: { gate: GATE } },
    });
  });
  afterAll(() => t?.stop());

  const db = () => t.sesame.services.db;
  const nextEmail = () => `apirisk${++n}-${engine}@example.com`;

  /** A code sent to `email` for `clientId`, exchanged with the OTP grant as the end user at `ip`. */
  async function otpGrant(clientId: string, email: string, ip: string) {
    const secret = { client_id: clientId, client_secret: NATIVE.client_secret! };
    const sent = await fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'auth0-forwarded-for': ip },
      body: JSON.stringify({ ...secret, connection: 'email', email, send: 'code' }),
    });
    expect(sent.status).toBe(200);
    const otp = codeFrom(await t.mail.next(email));
    const res = await fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'auth0-forwarded-for': ip },
      body: new URLSearchParams({ grant_type: OTP, ...secret, username: email, otp, realm: 'email', scope: 'openid' }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const decisionsOf = (userId: string) => db().prisma.actionDecision.findMany({ where: { tenantId: 'gated', userId } });

  it('answers BLOCK with access_denied and issues nothing', async () => {
    const email = nextEmail();
    const user = await upsertVerifiedEmailUser(db(), email);
    expect(await otpGrant('gated', email, BLOCKED_IP)).toEqual({ status: 403, body: { error: 'access_denied', error_description: 'The sign-in was not allowed.' } });
    const rows = await decisionsOf(user.id);
    expect(rows.map((r) => [r.actionCode, r.outcome, r.state, r.ip, r.principalId, r.interactionUid])).toEqual([['gate', 'BLOCK', 'BLOCK', BLOCKED_IP, user.id, null]]);
  });

  it("keeps the operator's policy for sign-ins when the client stores a looser one of its own", async () => {
    // A tenant's rules API may not loosen the config file's sign-in policy: the session it makes serves every client.
    await saveActionConfiguration(db(), 'gated', 'gate', JSON.stringify({ defaultOutcome: 'ALLOW', verificationMethods: [], rules: [] }));
    try {
      const email = nextEmail();
      await upsertVerifiedEmailUser(db(), email);
      expect(await otpGrant('gated', email, BLOCKED_IP)).toEqual({ status: 403, body: { error: 'access_denied', error_description: 'The sign-in was not allowed.' } });
    } finally {
      await deleteActionConfiguration(db(), 'gated', 'gate');
    }
  });

  it('answers REVIEW with access_denied saying the sign-in is held', async () => {
    const email = nextEmail();
    const user = await upsertVerifiedEmailUser(db(), email);
    expect(await otpGrant('gated', email, REVIEW_IP)).toEqual({
      status: 403,
      body: { error: 'access_denied', error_description: 'The sign-in is held for review: try again once it is approved.' },
    });
    expect((await decisionsOf(user.id)).map((r) => r.state)).toEqual(['REVIEW_REQUIRED']);
  });

  it("answers CHALLENGE with mfa_required for the rule's methods only: a challenge with the app, or its enrolment", async () => {
    const email = nextEmail();
    const user = await upsertVerifiedEmailUser(db(), email);
    await confirmedTotp(t.sesame.services, user.id);
    expect(await otpGrant('gated', email, CHALLENGE_IP)).toEqual({
      status: 403,
      body: { error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: expect.any(String), mfa_requirements: { challenge: [{ type: 'otp' }] } },
    });
    const [row] = await decisionsOf(user.id);
    expect([row!.state, JSON.parse(row!.verificationMethods), JSON.parse(row!.explanation).facts]).toEqual([
      'CHALLENGE_REQUIRED',
      ['AUTHENTICATOR_APP'],
      { ip: { address: CHALLENGE_IP }, signIn: { method: 'EMAIL_OTP' } },
    ]);

    const newcomer = nextEmail();
    expect(await otpGrant('gated', newcomer, CHALLENGE_IP)).toEqual({
      status: 403,
      body: { error: 'mfa_required', error_description: 'Multifactor authentication required', mfa_token: expect.any(String), mfa_requirements: { enroll: [{ type: 'otp' }] } },
    });
  });

  it('issues tokens when the policy allows, and writes no decision for a client whose action has no policy', async () => {
    const email = nextEmail();
    const allowed = await otpGrant('gated', email, '198.51.100.20');
    expect([allowed.status, allowed.body.token_type]).toEqual([200, 'Bearer']);
    const user = await db().prisma.user.findUniqueOrThrow({ where: { email } });
    expect((await decisionsOf(user.id)).map((r) => r.state)).toEqual(['ALLOW']);

    const plain = await otpGrant('native', nextEmail(), BLOCKED_IP);
    expect(plain.status).toBe(200);
    expect(await db().prisma.actionDecision.count({ where: { tenantId: 'native' } })).toBe(0);
  });
});
