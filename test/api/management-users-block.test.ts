// Blocking a user through the management API, on both databases: their refresh tokens and sessions
// end at once, every sign-in door refuses them (the hosted pages with a clear page, the OTP grant and
// the refresh grant with invalid_grant naming the block), a refresh racing the block leaves nothing
// usable, and unblocking lets them sign in again from scratch.
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setBlocked } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { htmlText } from '../helpers/html.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { OTP } from './fixture.js';
import { documentedApi, hostedSignIn, otpSignIn, sendCode, tokenOf, usersFixture, type Answer } from './management-users-fixture.js';

const BLOCKED = { error: 'invalid_grant', error_description: 'The account is blocked.' };

describe.each(ENGINES)('blocking a user on %s', (engine) => {
  let t: TestSesame;
  let api: (method: string, path: string, bearer: string | null, body?: unknown) => Promise<Answer>;
  let token: string;
  const mark = randomUUID().slice(0, 8);
  beforeAll(async () => {
    t = await startTestSesame(engine, usersFixture);
    api = await documentedApi(t);
    token = await tokenOf(t, 'users:write users:read');
  });
  afterAll(() => t?.stop());

  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => 'issued',
      (err: { error?: string; error_description?: string; status?: number }) => ({ error: err.error, error_description: err.error_description, status: err.status }),
    );

  it('ends the sessions and refresh tokens at once, refuses the hosted pages with a page and the OTP grant by name; unblock lets them back', async () => {
    const email = `hosted-${mark}@example.com`;
    expect((await hostedSignIn(t, email)).status).toBe(303);
    const { rp, tokens, userId } = await otpSignIn(t, email);
    const sessions = await api('GET', `/users/${userId}/sessions`, token);
    expect(sessions).toEqual({ status: 200, body: { sessions: [{ id: expect.any(String), signedInAt: expect.any(String), grantIds: [expect.any(String)] }] } });

    const blocked = await api('POST', `/users/${userId}/block`, token);
    expect([blocked.status, blocked.body.blocked, blocked.body.blockedAt]).toEqual([200, true, expect.any(String)]);
    expect(await api('GET', `/users/${userId}/sessions`, token)).toEqual({ status: 200, body: { sessions: [] } });
    expect(await api('GET', `/users/${userId}/grants`, token)).toEqual({ status: 200, body: { grants: [] } });
    expect(await refusal(oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant', status: 400 });
    const audit = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { userId, type: 'user.blocked' } });
    expect(audit.map((a) => [a.clientId, a.reason])).toEqual([['ops', '3 sessions and grants ended via management_api']]);

    // The hosted pages: the code is right, the page says the account is blocked.
    const again = await hostedSignIn(t, email);
    expect(again.status).toBe(403);
    expect(htmlText(again.html)).toContain('This account is blocked');
    expect(htmlText(again.html)).toContain('The service has blocked this account, so it cannot sign in.');
    // The OTP grant: the code is right, the answer names the block.
    const otp = await sendCode(t, email);
    expect(await refusal(oidc.genericGrantRequest(rp, OTP, { username: email, otp, realm: 'email', scope: 'openid' }))).toEqual({ ...BLOCKED, status: 400 });
    expect(await t.sesame.services.db.prisma.oidcPayload.count({ where: { accountId: userId } })).toBe(0);

    const unblocked = await api('POST', `/users/${userId}/unblock`, token);
    expect([unblocked.status, unblocked.body.blocked, unblocked.body.blockedAt]).toEqual([200, false, null]);
    expect((await otpSignIn(t, email)).tokens.access_token).toEqual(expect.any(String));
    expect((await hostedSignIn(t, email)).status).toBe(303);
  });

  it('refuses the refresh grant and userinfo of a blocked account even where a token outlived the block', async () => {
    const { rp, tokens, userId } = await otpSignIn(t, `door-${mark}@example.com`);
    // The mark alone, as a refresh that read its grant before the block's end of sessions would meet it.
    expect(await setBlocked(t.sesame.services.db, userId, new Date())).toBe(true);
    expect(await refusal(oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toEqual({ ...BLOCKED, status: 400 });
    const userinfo = await fetch(`${t.url}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(userinfo.status).toBe(401);
  });

  it('leaves nothing usable when a refresh races the block', async () => {
    for (let round = 0; round < 5; round++) {
      const { rp, tokens, userId } = await otpSignIn(t, `race${round}-${mark}@example.com`);
      const [refreshed, blocked] = await Promise.all([oidc.refreshTokenGrant(rp, tokens.refresh_token!).catch(() => null), api('POST', `/users/${userId}/block`, token)]);
      expect(blocked.status).toBe(200);
      for (const refresh of [tokens.refresh_token!, refreshed?.refresh_token].filter((v): v is string => v !== undefined)) {
        expect(await refusal(oidc.refreshTokenGrant(rp, refresh))).toMatchObject({ error: 'invalid_grant' });
      }
      for (const access of [tokens.access_token, refreshed?.access_token].filter((v): v is string => v !== undefined)) {
        expect((await fetch(`${t.url}/userinfo`, { headers: { authorization: `Bearer ${access}` } })).status).toBe(401);
      }
    }
  });

  it('answers a second block with the first date and a block of nobody with 404', async () => {
    const { userId } = await otpSignIn(t, `twice-${mark}@example.com`);
    const first = await api('POST', `/users/${userId}/block`, token);
    const second = await api('POST', `/users/${userId}/block`, token);
    expect(second).toEqual(first);
    expect(await api('POST', `/users/${randomUUID()}/block`, token)).toEqual({ status: 404, body: { error: 'not_found', error_description: 'No user with this id.' } });
  });
});
