// The Auth0-compatible passwordless API over plain HTTP with openid-client and fetch: start, the
// OTP grant under both names, refresh, limits and errors in Auth0's shapes, on both databases.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { CALLBACK, OTP, SESAME_OTP, WEB_ORIGIN, apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;

describe.each(ENGINES)('passwordless API on %s', (engine) => {
  let t: TestSesame;
  let rp: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, apiFixture);
    rp = await oidc.discovery(new URL(t.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => t?.stop());

  const start = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/passwordless/start`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const nextEmail = () => `api${++n}-${engine}@example.com`;

  async function sendCode(email: string) {
    const res = await start({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' });
    const body = (await res.json()) as Record<string, unknown>;
    expect([res.status, body]).toEqual([200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }]);
    return codeFrom(await t.mail.next(email));
  }

  it('sends a code and exchanges it with the OTP grant; refresh works; the same user as the hosted pages', async () => {
    const email = nextEmail();
    const otp = await sendCode(email);
    const tokens = await oidc.genericGrantRequest(rp, OTP, { username: email, otp, realm: 'email', scope: 'openid email offline_access', audience: 'https://api.example' });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: expect.any(Number), refresh_token: expect.any(String), id_token: expect.any(String) });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: 'https://api.example', iss: t.issuer, client_id: 'native' });
    const claims = decodeJwt(tokens.id_token!);
    expect(claims).toMatchObject({ iss: t.issuer, aud: 'native', email, email_verified: true });
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });
    expect(claims.sub).toBe(user.id);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(decodeJwt(refreshed.id_token!).sub).toBe(user.id);
    // Replaying the used code fails like any wrong code.
    await expect(oidc.genericGrantRequest(rp, OTP, { username: email, otp, realm: 'email' })).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: 'Wrong email or verification code.',
      status: 403,
    });
  });

  it("accepts Sesame's own grant name too and answers wrong codes like Auth0", async () => {
    const email = nextEmail();
    const otp = await sendCode(email);
    const wrong = String((Number(otp) + 1) % 1_000_000).padStart(6, '0');
    await expect(oidc.genericGrantRequest(rp, SESAME_OTP, { username: email, otp: wrong, realm: 'email' })).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: 'Wrong email or verification code.',
    });
    const tokens = await oidc.genericGrantRequest(rp, SESAME_OTP, { username: email, otp, realm: 'email', scope: 'openid' });
    expect(tokens.access_token).toEqual(expect.any(String));
  });

  it('lets exactly one of 20 parallel OTP exchanges succeed', async () => {
    const email = nextEmail();
    const otp = await sendCode(email);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => oidc.genericGrantRequest(rp, OTP, { username: email, otp, realm: 'email' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    // Each attempt is reserved as a failure before the compare, so on PostgreSQL (truly parallel)
    // the attempts past the free failures wait out a delay instead of being evaluated.
    for (const r of results) {
      if (r.status === 'rejected')
        expect([
          ['invalid_grant', 403],
          ['too_many_attempts', 429],
        ]).toContainEqual([r.reason.error, r.reason.status]);
    }
  });

  it("answers errors in Auth0's shapes", async () => {
    const email = nextEmail();
    const cases: Array<[Response, number, Record<string, string>]> = [
      [
        await start({ client_id: 'native', client_secret: 'wrong', connection: 'email', email, send: 'code' }),
        401,
        { error: 'invalid_client', error_description: 'Client authentication failed.' },
      ],
      [await start({ client_id: 'nobody', connection: 'email', email }), 401, { error: 'invalid_client', error_description: 'Unknown client.' }],
      [
        await start({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'sms', email }),
        400,
        { error: 'bad.connection', error_description: 'Connection "sms" does not exist or is not enabled.' },
      ],
      [
        await start({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email: 'nope' }),
        400,
        { error: 'bad.email', error_description: 'Please provide a valid email address.' },
      ],
      [
        await start({ client_id: 'backend', client_secret: 'backend-secret-backend-secret-xx', connection: 'email', email, send: 'code' }),
        403,
        { error: 'unauthorized_client', error_description: `Grant type '${OTP}' not allowed for the client.` },
      ],
      [
        await start({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email, authParams: { redirect_uri: 'https://evil.example/cb' } }),
        400,
        { error: 'invalid_request', error_description: 'redirect_uri is not registered for this client.' },
      ],
    ];
    for (const [res, status, body] of cases) expect([res.status, await res.json()]).toEqual([status, body]);

    const backend = await oidc.discovery(new URL(t.issuer), 'backend', undefined, oidc.ClientSecretPost('backend-secret-backend-secret-xx'), {
      execute: [oidc.allowInsecureRequests],
    });
    await expect(oidc.genericGrantRequest(backend, OTP, { username: email, otp: '123456', realm: 'email' })).rejects.toMatchObject({
      error: 'unauthorized_client',
      error_description: `Grant type '${OTP}' not allowed for the client.`,
      status: 403,
    });
    await expect(oidc.genericGrantRequest(rp, OTP, { username: email, otp: '123456', realm: 'email', audience: 'https://nope.example' })).rejects.toMatchObject({
      error: 'access_denied',
      error_description: 'Service not found: https://nope.example',
      status: 403,
    });
  });

  it('limits sends per identifier with 429 and Retry-After', async () => {
    const email = nextEmail();
    await sendCode(email);
    const again = await start({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await again.json()).toEqual({
      error: 'too_many_requests',
      error_description: expect.stringMatching(/^Too many requests; wait \d+ s before asking for another code\.$/),
    });
  });

  it('honours auth0-forwarded-for only from a trusted confidential client', async () => {
    const email = nextEmail();
    await sendCode(email);
    const other = nextEmail();
    await start({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email: other, send: 'code' }, { 'auth0-forwarded-for': '203.0.113.7' });
    await start({ client_id: 'spa', connection: 'email', email: nextEmail(), send: 'code' }, { 'auth0-forwarded-for': '198.51.100.9', origin: WEB_ORIGIN });
    const events = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'code.sent', clientId: { in: ['native', 'spa'] } } });
    expect(events.find((e) => e.identifier === other)?.ip).toBe('203.0.113.7');
    expect(events.filter((e) => e.clientId === 'spa').map((e) => e.ip)).not.toContain('198.51.100.9');
  });

  it('serves CORS to registered web origins of public clients only', async () => {
    const preflight = await fetch(`${t.url}/passwordless/start`, { method: 'OPTIONS', headers: { origin: WEB_ORIGIN, 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(WEB_ORIGIN);
    const foreign = await start({ client_id: 'spa', connection: 'email', email: nextEmail(), send: 'code' }, { origin: 'https://evil.example' });
    expect([foreign.status, await foreign.json()]).toEqual([
      403,
      { error: 'access_denied', error_description: 'Origin https://evil.example is not allowed for this client; add it to its web_origins.' },
    ]);
    const email = nextEmail();
    const ok = await start({ client_id: 'spa', connection: 'email', email, send: 'code' }, { origin: WEB_ORIGIN });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(WEB_ORIGIN);
    const otp = codeFrom(await t.mail.next(email));
    const token = await fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: WEB_ORIGIN },
      body: new URLSearchParams({ grant_type: OTP, client_id: 'spa', username: email, otp, realm: 'email', scope: 'openid' }),
    });
    expect(token.status).toBe(200);
    expect(token.headers.get('access-control-allow-origin')).toBe(WEB_ORIGIN);
    expect(CALLBACK).toBe(`${WEB_ORIGIN}/cb`);
  });
});
