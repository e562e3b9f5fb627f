// One requester must not shut a public client's sign-in for everyone, nor retire another
// requester's code (issue 11, items 6 and 7): refused requests never count against the client, and
// API flows are keyed per requester network. Requesters differ by the loopback address they bind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { fetchFrom } from '../helpers/from-address.js';
import { codeFrom } from '../helpers/smtp.js';
import { OTP, WEB_ORIGIN, apiFixture } from './fixture.js';

describe('passwordless API under one abusive requester', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', {
      ...apiFixture,
      rateLimits: { sendsPerClientPerHour: 4, publicSendsPerIpPerHour: 2, otpGrantsPerClientPerMinute: 3, verifiesPerIpPerMinute: 2 },
    });
  });
  afterAll(() => t?.stop());

  const attacker = fetchFrom('127.1.0.1');
  const victim = fetchFrom('127.2.0.1');
  const start = (from: typeof fetch, email: string) =>
    from(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: WEB_ORIGIN },
      body: JSON.stringify({ client_id: 'spa', connection: 'email', email, send: 'code' }),
    });
  const grant = (from: typeof fetch, username: string, otp: string) =>
    from(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: WEB_ORIGIN },
      body: new URLSearchParams({ grant_type: OTP, client_id: 'spa', username, otp, realm: 'email', scope: 'openid' }).toString(),
    });

  it('refused sends and grants from one IP neither block the client for others nor retire their code', async () => {
    const email = 'victim@example.com';
    const started = await start(victim, email);
    expect([started.status, await started.json()]).toEqual([200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }]);
    const code = codeFrom(await t.mail.next(email));

    // The attacker, same public client, another network: one send to the victim's address (its own
    // flow: the victim's code stays), then a flood the per-IP cap refuses.
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await start(attacker, i ? `flood${i}@example.com` : email)).status);
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429, 429, 429, 429, 429]);
    // Bad OTP grants: two are evaluated, the per-IP cap refuses the rest before the client counts them.
    const grants = [];
    for (let i = 0; i < 10; i++) grants.push((await grant(attacker, email, '000000')).status);
    expect(grants).toEqual([403, 403, 429, 429, 429, 429, 429, 429, 429, 429]);

    // The victim's code still works through the grant, and the client still accepts the victim's sends.
    const tokens = await grant(victim, email, code);
    expect(tokens.status).toBe(200);
    expect(await tokens.json()).toMatchObject({ access_token: expect.any(String), id_token: expect.any(String), token_type: 'Bearer' });
    const other = await start(fetchFrom('127.3.0.1'), 'someone@example.com');
    expect(other.status).toBe(200);
    await t.mail.next('someone@example.com');
    // Now the client cap (4 an hour) is reached by sends that passed every narrower limit.
    const capped = await start(fetchFrom('127.4.0.1'), 'late@example.com');
    expect([capped.status, await capped.json()]).toEqual([429, { error: 'too_many_requests', error_description: 'This application has sent too many codes; try again later.' }]);
  });
});
