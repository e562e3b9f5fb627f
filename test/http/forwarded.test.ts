// Behind an ordinary proxy that appends the peer it saw to X-Forwarded-For, a client can write
// anything to the left of that entry. Per-IP limits and the audit log must count the address the
// trusted proxy saw (the Nth entry from the right for N trusted hops), on our routes and on
// oidc-provider's, or one client rotating a fake leftmost address is never limited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { postJson, requestFrom } from '../helpers/from-address.js';
import { startForwardingProxy, type ForwardingProxy } from '../helpers/forwarding-proxy.js';
import { apiFixture, OTP } from '../api/fixture.js';

const NATIVE = apiFixture.clients[0]!;
// The client's real address; its claimed ones are 1.2.3.x.
const CLIENT = '127.1.0.7';
const SEND_LIMITED = { error: 'too_many_requests', error_description: 'Too many requests; wait 3600 s before asking for another code.' };

function startCode(proxy: ForwardingProxy, email: string, claimed: string) {
  return postJson(
    `${proxy.url}/passwordless/start`,
    { client_id: NATIVE.client_id, client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' },
    { from: CLIENT, headers: { 'x-forwarded-for': claimed } },
  );
}

function guessOtp(proxy: ForwardingProxy, email: string, claimed: string) {
  const body = new URLSearchParams({
    grant_type: OTP,
    client_id: NATIVE.client_id,
    client_secret: NATIVE.client_secret!,
    username: email,
    otp: '000000',
    realm: 'email',
    scope: 'openid',
  });
  return requestFrom(`${proxy.url}/oauth/token`, {
    method: 'POST',
    from: CLIENT,
    body: body.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': claimed },
  });
}

const whole = (answer: { status: number; text: string }) => [answer.status, JSON.parse(answer.text) as unknown];

async function auditIps(t: TestSesame, type: string): Promise<string[]> {
  const rows = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type } });
  return [...new Set(rows.map((r) => r.ip ?? ''))];
}

describe.each(ENGINES)('trusted proxies on %s', (engine) => {
  describe('one trusted hop (TRUST_PROXY=1, trustProxy: true)', () => {
    let t: TestSesame;
    let proxy: ForwardingProxy;
    beforeAll(async () => {
      t = await startTestSesame(engine, { ...apiFixture, trustProxy: true, rateLimits: { sendsPerIpPerHour: 2, verifiesPerIpPerMinute: 2 } });
      proxy = await startForwardingProxy(t.url);
    });
    afterAll(async () => {
      await proxy?.close();
      await t?.stop();
    });

    it('counts the address the proxy saw in the per-IP send limit and the audit, on /passwordless/start', async () => {
      const answers = [];
      for (let i = 1; i <= 3; i++) answers.push(await startCode(proxy, `spoof${i}@example.com`, `1.2.3.${i}`));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
      expect(whole(answers[2]!)).toEqual([429, SEND_LIMITED]);
      expect(await auditIps(t, 'code.sent')).toEqual([CLIENT]);
      expect(await auditIps(t, 'code.send_limited')).toEqual([CLIENT]);
    });

    it('counts the address the proxy saw in the per-IP verify limit and the audit, on the token endpoint', async () => {
      const victim = 'otp-victim@example.com';
      // The code is sent for the guesser's network (API flows are keyed by it): by the app's backend
      // on behalf of a user on 127.1.0.0/24, whose own send limit the test above has not touched.
      const sent = await postJson(
        `${t.url}/passwordless/start`,
        { client_id: NATIVE.client_id, client_secret: NATIVE.client_secret, connection: 'email', email: victim, send: 'code' },
        { headers: { 'auth0-forwarded-for': '127.1.0.99' } },
      );
      expect(sent.status).toBe(200);
      await t.mail.next(victim);
      const answers = [];
      for (let i = 1; i <= 3; i++) answers.push(await guessOtp(proxy, victim, `1.2.4.${i}`));
      expect(answers.slice(0, 2).map(whole)).toEqual([
        [403, { error: 'invalid_grant', error_description: 'Wrong email or verification code.' }],
        [403, { error: 'invalid_grant', error_description: 'Wrong email or verification code.' }],
      ]);
      expect(whole(answers[2]!)).toEqual([429, { error: 'too_many_attempts', error_description: 'Too many failed attempts. Wait before trying again.' }]);
      expect(await auditIps(t, 'code.failed')).toEqual([CLIENT]);
    });
  });

  describe('two trusted hops (TRUST_PROXY=2)', () => {
    let t: TestSesame;
    let inner: ForwardingProxy;
    let outer: ForwardingProxy;
    beforeAll(async () => {
      t = await startTestSesame(engine, { ...apiFixture, trustProxy: 2, rateLimits: { sendsPerIpPerHour: 2 } });
      // client -> outer (appends the client) -> inner (appends the outer proxy, 127.3.0.3) -> Sesame
      inner = await startForwardingProxy(t.url);
      outer = await startForwardingProxy(inner.url, '127.3.0.3');
    });
    afterAll(async () => {
      await outer?.close();
      await inner?.close();
      await t?.stop();
    });

    it('takes the second address from the right', async () => {
      const answers = [];
      for (let i = 1; i <= 3; i++) answers.push(await startCode(outer, `hops${i}@example.com`, `1.2.5.${i}`));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
      expect(whole(answers[2]!)).toEqual([429, SEND_LIMITED]);
      expect(await auditIps(t, 'code.sent')).toEqual([CLIENT]);
    });
  });
});
