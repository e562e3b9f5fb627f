// Per-client and public-client limits of the passwordless API, with small configured values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { OTP, WEB_ORIGIN, apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;

describe('passwordless API limits', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', {
      ...apiFixture,
      rateLimits: { sendsPerClientPerHour: 2, otpGrantsPerClientPerMinute: 2, publicSendsPerIpPerHour: 1 },
    });
  });
  afterAll(() => t?.stop());

  const start = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/passwordless/start`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('caps sends per client', async () => {
    const statuses = [];
    for (const email of ['c1@example.com', 'c2@example.com', 'c3@example.com']) {
      statuses.push((await start({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' })).status);
    }
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('gives public clients a stricter per-IP cap', async () => {
    const first = await start({ client_id: 'spa', connection: 'email', email: 'p1@example.com', send: 'code' }, { origin: WEB_ORIGIN });
    const second = await start({ client_id: 'spa', connection: 'email', email: 'p2@example.com', send: 'code' }, { origin: WEB_ORIGIN });
    expect([first.status, second.status]).toEqual([200, 429]);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('caps OTP grant requests per client per minute', async () => {
    const grant = () =>
      fetch(`${t.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: OTP, client_id: 'native', client_secret: NATIVE.client_secret!, username: 'g@example.com', otp: '000000', realm: 'email' }),
      });
    const responses = [await grant(), await grant(), await grant()];
    expect(responses.map((r) => r.status)).toEqual([403, 403, 429]);
    expect(responses[2]!.headers.get('retry-after')).toBe('60');
    expect(await responses[2]!.json()).toEqual({ error: 'too_many_attempts', error_description: 'Too many failed attempts. Wait before trying again.' });
  });
});
