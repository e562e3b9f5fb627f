// The Userfront-compatible API over plain HTTP, as @userfront/core calls it: login links and email
// codes per tenant (a client flagged `userfront: true`), refresh and logout, Userfront's answers and
// errors, CORS, single use of links, and the login-ticket grant behind the tokens.
import { userfrontTenant } from '../helpers/userfront-app.js';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { AT_TOKEN_ENDPOINT, atInteraction, issueLoginTicket } from '../../src/passwordless/login-tickets.js';

const LOGIN_TICKET = 'urn:sesame:params:oauth:grant-type:login-ticket';
const APP = 'http://127.0.0.1:9';
const tenant = userfrontTenant;
const fixture = {
  clients: [
    tenant('demo1234', { client_name: 'Demo', redirect_uris: [`${APP}/dashboard`], post_logout_redirect_uris: [`${APP}/login`], web_origins: [APP] }),
    tenant('portal', { initiate_login_uri: 'https://portal.example/login', redirect_uris: ['https://portal.example/home'] }),
    { client_id: 'plain', token_endpoint_auth_method: 'none', redirect_uris: [`${APP}/cb`], grant_types: ['authorization_code'] },
    // Misconfigured: a tenant with a secret could not get its tokens without sending it.
    { ...tenant('secretive', { redirect_uris: [`${APP}/dashboard`] }), client_secret: 'secretive-secret-secretive-secret', token_endpoint_auth_method: 'client_secret_post' },
  ],
  // Every request of this file comes from 127.0.0.1; the public per-IP cap (10 an hour) would end it early.
  rateLimits: { publicSendsPerIpPerHour: 100 },
};

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, any>;
}
type Tokens = { access: { value: string }; id: { value: string }; refresh: { value: string } };

describe('Userfront-compatible API', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());
  afterEach(() => vi.useRealTimers());

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const res = await fetch(`${t.url}/v0${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const error = (statusCode: number, error: string, message: string) => ({ statusCode, error, message });

  /** POST auth/link, then the ?token=&uuid= of the mailed link to the app's `page`. */
  async function mailedLink(tenantId: string, email: string, page = `${APP}/dashboard`) {
    const sent = await call('POST', `/tenants/${tenantId}/auth/link`, { email });
    expect([sent.status, sent.body]).toEqual([200, { message: 'OK', result: { email } }]);
    const url = new URL(linkFrom(await t.mail.next(email), new URL(page).pathname));
    expect(url.origin + url.pathname).toBe(page);
    expect([...url.searchParams.keys()]).toEqual(['token', 'uuid']);
    return { token: url.searchParams.get('token')!, uuid: url.searchParams.get('uuid')! };
  }

  /** A login answer for tenant demo1234 over http (cookies not Secure). */
  const loginAnswer = (redirectTo = `${APP}/dashboard`, secure = false) => ({
    message: 'OK',
    redirectTo,
    tokens: {
      access: { value: expect.any(String), cookieOptions: { secure, sameSite: 'Lax', expires: 1 / 24 } },
      id: { value: expect.any(String), cookieOptions: { secure, sameSite: 'Lax', expires: 1 / 24 } },
      refresh: { value: expect.any(String), cookieOptions: { secure, sameSite: 'Strict', expires: 14 } },
    },
  });

  it('sends a link to the app page, logs in with {token, uuid}: JWT access token for the tenant, ID token with the email', async () => {
    const email = 'ada@example.com';
    const link = await mailedLink('demo1234', email);
    const login = await call('PUT', '/tenants/demo1234/auth/link', link);
    expect([login.status, login.body]).toEqual([200, loginAnswer()]);
    const { access, id } = login.body.tokens as Tokens;

    const user = await t.sesame.services.db.prisma.user.findUnique({ where: { email } });
    expect(user).toMatchObject({ email, emailVerified: true });
    expect(decodeProtectedHeader(access.value)).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(decodeJwt(access.value)).toEqual({
      iss: t.issuer,
      sub: user!.id,
      aud: `${t.issuer}/v0/tenants/demo1234`,
      client_id: 'demo1234',
      tenantId: 'demo1234',
      sessionId: expect.any(String),
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    expect(decodeJwt(id.value)).toMatchObject({ iss: t.issuer, sub: user!.id, aud: 'demo1234', email, email_verified: true, acr: 'urn:sesame:acr:email', amr: ['email'] });

    // Single use: the same link again, and a wrong token.
    const again = await call('PUT', '/tenants/demo1234/auth/link', link);
    expect([again.status, again.body]).toEqual([401, error(401, 'Unauthorized', 'This login link was already used. Ask for a new one.')]);
    const forged = await call('PUT', '/tenants/demo1234/auth/link', { ...link, token: 'x'.repeat(43) });
    expect([forged.status, forged.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid login link.')]);
    const empty = await call('PUT', '/tenants/demo1234/auth/link', {});
    expect([empty.status, empty.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid login link.')]);
  });

  it('answers a link request the same way for a new address and an existing one', async () => {
    await t.sesame.services.db.prisma.user.create({ data: { id: 'known-user', email: 'known@example.com', emailVerified: true } });
    const known = await call('POST', '/tenants/demo1234/auth/link', { email: 'known@example.com' });
    const fresh = await call('POST', '/tenants/demo1234/auth/link', { email: 'Newcomer@Example.com' });
    expect([known.status, known.body]).toEqual([200, { message: 'OK', result: { email: 'known@example.com' } }]);
    expect([fresh.status, fresh.body]).toEqual([200, { message: 'OK', result: { email: 'newcomer@example.com' } }]);
    await t.mail.next('known@example.com');
    await t.mail.next('newcomer@example.com');
    const bad = await call('POST', '/tenants/demo1234/auth/link', { email: 'not-an-address' });
    expect([bad.status, bad.body]).toEqual([400, error(400, 'Bad Request', 'Please provide a valid email address.')]);
    // The code throttles apply: a second send within the 30-second cooldown waits for what is left
    // of it (a loaded machine may have spent a few of those seconds delivering the mail above).
    const soon = await call('POST', '/tenants/demo1234/auth/link', { email: 'known@example.com' });
    const wait = Number(soon.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(20);
    expect(wait).toBeLessThanOrEqual(30);
    expect([soon.status, soon.body]).toEqual([429, error(429, 'Too Many Requests', `Too many requests; wait ${wait} seconds before asking again.`)]);
  });

  it('uses a link exactly once when 20 logins race for it', async () => {
    const link = await mailedLink('demo1234', 'race@example.com');
    const answers = await Promise.all(Array.from({ length: 20 }, () => call('PUT', '/tenants/demo1234/auth/link', link)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    const losers = answers.filter((a) => a.status !== 200);
    expect(losers.map((a) => [a.status, a.body])).toEqual(Array(19).fill([401, error(401, 'Unauthorized', 'This login link was already used. Ask for a new one.')]));
  });

  it("keeps a tenant's link to that tenant, and points links to initiate_login_uri with Secure cookies for an https app", async () => {
    const link = await mailedLink('portal', 'grace@example.com', 'https://portal.example/login');
    const elsewhere = await call('PUT', '/tenants/demo1234/auth/link', link);
    expect([elsewhere.status, elsewhere.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid login link.')]);
    const login = await call('PUT', '/tenants/portal/auth/link', link);
    expect([login.status, login.body]).toEqual([200, loginAnswer('https://portal.example/home', true)]);
    expect(decodeJwt((login.body.tokens as Tokens).access.value)).toMatchObject({ aud: `${t.issuer}/v0/tenants/portal`, tenantId: 'portal' });
  });

  it('answers 404 for an unknown tenant and for a client that is not a Userfront tenant', async () => {
    for (const id of ['nope', 'plain']) {
      for (const [method, path] of [
        ['POST', 'link'],
        ['PUT', 'link'],
        ['POST', 'code'],
        ['PUT', 'code'],
      ] as const) {
        const answer = await call(method, `/tenants/${id}/auth/${path}`, { email: 'x@example.com', channel: 'email' });
        expect([answer.status, answer.body]).toEqual([404, error(404, 'Not Found', 'Tenant not found.')]);
      }
    }
  });

  it('answers a misconfigured tenant with a server error, and logs why', async () => {
    const answer = await call('POST', '/tenants/secretive/auth/link', { email: 'x@example.com' });
    expect([answer.status, answer.body]).toEqual([500, error(500, 'Internal Server Error', 'An internal server error occurred.')]);
  });

  it('logs in with an email code; a wrong code is refused and SMS is not enabled', async () => {
    const email = 'linus@example.com';
    const sent = await call('POST', '/tenants/demo1234/auth/code', { channel: 'email', email });
    expect([sent.status, sent.body]).toEqual([200, { message: 'OK', result: { channel: 'email', email } }]);
    const code = codeFrom(await t.mail.next(email));
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');

    const refused = await call('PUT', '/tenants/demo1234/auth/code', { channel: 'email', email, verificationCode: wrong });
    expect([refused.status, refused.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid or expired verification code.')]);
    const login = await call('PUT', '/tenants/demo1234/auth/code', { channel: 'email', email, verificationCode: code });
    expect([login.status, login.body]).toEqual([200, loginAnswer()]);
    expect(decodeJwt((login.body.tokens as Tokens).id.value)).toMatchObject({ email, email_verified: true, acr: 'urn:sesame:acr:email', amr: ['email', 'otp'] });
    const reused = await call('PUT', '/tenants/demo1234/auth/code', { channel: 'email', email, verificationCode: code });
    expect([reused.status, reused.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid or expired verification code.')]);

    const sms = await call('POST', '/tenants/demo1234/auth/code', { channel: 'sms', phoneNumber: '+15558769098' });
    expect([sms.status, sms.body]).toEqual([400, error(400, 'Bad Request', 'SMS is not enabled.')]);
    const smsLogin = await call('PUT', '/tenants/demo1234/auth/code', { channel: 'sms', phoneNumber: '+15558769098', verificationCode: '123456' });
    expect([smsLogin.status, smsLogin.body]).toEqual([400, error(400, 'Bad Request', 'SMS is not enabled.')]);
  });

  it('refreshes with the refresh token (rotated), logs out with the access token, after which refresh fails', async () => {
    const link = await mailedLink('demo1234', 'barbara@example.com');
    const { tokens } = (await call('PUT', '/tenants/demo1234/auth/link', link)).body as { tokens: Tokens };

    const refreshed = await call('GET', '/auth/refresh', undefined, bearer(tokens.refresh.value));
    expect([refreshed.status, refreshed.body]).toEqual([200, loginAnswer()]);
    const next = refreshed.body.tokens as Tokens;
    expect(next.refresh.value).not.toBe(tokens.refresh.value);
    expect(decodeJwt(next.access.value)).toMatchObject({ sessionId: decodeJwt(tokens.access.value).sessionId, tenantId: 'demo1234' });

    const out = await call('GET', '/auth/logout', undefined, bearer(next.access.value));
    expect([out.status, out.body]).toEqual([200, { message: 'OK', redirectTo: `${APP}/login` }]);
    const after = await call('GET', '/auth/refresh', undefined, bearer(next.refresh.value));
    expect([after.status, after.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid or expired refresh token.')]);
    const grants = await t.sesame.services.db.prisma.oidcPayload.count({ where: { model: 'Grant', id: String(decodeJwt(next.access.value).sessionId) } });
    expect(grants).toBe(0);
  });

  it('logs out with an access token that has expired, as Userfront allows', async () => {
    const link = await mailedLink('demo1234', 'expired@example.com');
    const { tokens } = (await call('PUT', '/tenants/demo1234/auth/link', link)).body as { tokens: Tokens };
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + 2 * 3600_000);
    const out = await call('GET', '/auth/logout', undefined, bearer(tokens.access.value));
    expect([out.status, out.body]).toEqual([200, { message: 'OK', redirectTo: `${APP}/login` }]);
    const after = await call('GET', '/auth/refresh', undefined, bearer(tokens.refresh.value));
    expect([after.status, after.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid or expired refresh token.')]);
  });

  it('refuses refresh and logout without a valid bearer token', async () => {
    const none = await call('GET', '/auth/refresh');
    expect([none.status, none.body]).toEqual([401, error(401, 'Unauthorized', 'Missing Authorization: Bearer token.')]);
    const junk = await call('GET', '/auth/refresh', undefined, bearer('junk'));
    expect([junk.status, junk.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid or expired refresh token.')]);
    const forged = await call('GET', '/auth/logout', undefined, bearer('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'));
    expect([forged.status, forged.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid access token.')]);
  });

  it("allows the tenant's web origins (preflight and real request) and refuses others", async () => {
    const preflight = await fetch(`${t.url}/v0/tenants/demo1234/auth/link`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,x-userfront-source' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(APP);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, OPTIONS');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-userfront-source');

    const allowed = await call('POST', '/tenants/demo1234/auth/link', { email: 'cors@example.com' }, { origin: APP });
    expect([allowed.status, allowed.headers.get('access-control-allow-origin')]).toEqual([200, APP]);
    await t.mail.next('cors@example.com');
    const foreign = await call('POST', '/tenants/demo1234/auth/link', { email: 'cors@example.com' }, { origin: 'https://evil.example' });
    expect([foreign.status, foreign.body]).toEqual([403, error(403, 'Forbidden', 'Origin https://evil.example is not allowed for this client; add it to its web_origins.')]);
  });

  it('login-ticket grant: redeems a ticket once, for the client it was issued to; logout takes its opaque access token', async () => {
    const { db, keyring } = t.sesame.services;
    const user = await db.prisma.user.findUniqueOrThrow({ where: { email: 'ada@example.com' } });
    const redeem = (ticket: string, clientId: string) =>
      fetch(`${t.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: LOGIN_TICKET, login_ticket: ticket, client_id: clientId, scope: 'openid email' }),
      }).then(async (res) => [res.status, await res.json()] as const);

    const ticket = await issueLoginTicket(db, keyring, user.id, 'demo1234', ['email'], AT_TOKEN_ENDPOINT);
    const [wrongStatus, wrongBody] = await redeem(ticket, 'portal');
    expect([wrongStatus, wrongBody]).toEqual([400, { error: 'invalid_grant', error_description: 'grant request is invalid' }]);
    // A browser's ticket (bound to a hosted interaction) is no good at the token endpoint.
    const browserTicket = await issueLoginTicket(db, keyring, user.id, 'demo1234', ['email'], atInteraction('some-interaction'));
    expect(await redeem(browserTicket, 'demo1234')).toEqual([400, { error: 'invalid_grant', error_description: 'grant request is invalid' }]);
    const other = await issueLoginTicket(db, keyring, user.id, 'demo1234', ['email'], AT_TOKEN_ENDPOINT);
    const [status, body] = await redeem(other, 'demo1234');
    expect([status, body]).toEqual([
      200,
      { access_token: expect.any(String), id_token: expect.any(String), refresh_token: expect.any(String), expires_in: 3600, token_type: 'Bearer', scope: 'openid email' },
    ]);
    expect(decodeJwt(body.id_token)).toMatchObject({ sub: user.id, email: 'ada@example.com' });
    const [againStatus, againBody] = await redeem(other, 'demo1234');
    expect([againStatus, againBody]).toEqual([400, { error: 'invalid_grant', error_description: 'grant request is invalid' }]);

    // Without the tenant's audience the access token is opaque; logging out with it works too.
    const out = await call('GET', '/auth/logout', undefined, bearer(body.access_token));
    expect([out.status, out.body]).toEqual([200, { message: 'OK', redirectTo: `${APP}/login` }]);
    const after = await call('GET', '/auth/refresh', undefined, bearer(body.refresh_token));
    expect([after.status, after.body]).toEqual([401, error(401, 'Unauthorized', 'Invalid or expired refresh token.')]);
  });
});
