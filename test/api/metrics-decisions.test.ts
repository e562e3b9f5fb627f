// sesame_action_decisions_total: one count per stored decision, by outcome, through the real
// @authsignal/node client; a track repeating an idempotency key answers the first decision and is
// not counted again.
import { Authsignal } from '@authsignal/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { parseExposition } from '../helpers/prometheus.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { BLOCKED_IP, FIXTURE } from './authsignal-fixture.js';

const TOKEN = 'metrics-token-metrics-token-metrics-token';
const OUTCOMES = ['ALLOW', 'CHALLENGE', 'REVIEW', 'BLOCK'];

describe('risk decisions in the metrics', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', { ...FIXTURE, metrics: { enabled: true, bearerToken: TOKEN } });
  });
  afterAll(() => t?.stop());

  async function decisions(): Promise<number[]> {
    const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const exposition = parseExposition(await res.text());
    return OUTCOMES.map((outcome) => exposition.sum('sesame_action_decisions_total', { outcome }));
  }

  it('counts each stored decision once, by outcome', async () => {
    const client = new Authsignal({ apiSecretKey: await issueTenantSecret(t.sesame.services.db, 'shop-metrics'), apiUrl: `${t.url}/v1`, retries: 0 });
    const before = await decisions();
    const tracked = [
      await client.track({ userId: 'ann', action: 'pay', attributes: { idempotencyKey: 'pay-1' } }),
      await client.track({ userId: 'ann', action: 'pay', attributes: { idempotencyKey: 'pay-1' } }),
      await client.track({ userId: 'ann', action: 'wire', attributes: { custom: { amount: 500 } } }),
      await client.track({ userId: 'bob', action: 'login', attributes: { ipAddress: BLOCKED_IP } }),
      await client.track({ userId: 'bob', action: 'login', attributes: { ipAddress: '2001:db8::1' } }),
      await client.track({ userId: 'cid', action: 'login' }),
    ];
    expect(tracked.map((d) => d.state)).toEqual(['CHALLENGE_REQUIRED', 'CHALLENGE_REQUIRED', 'REVIEW_REQUIRED', 'BLOCK', 'ALLOW', 'ALLOW']);
    const after = await decisions();
    expect(after.map((n, i) => n - before[i]!)).toEqual([2, 1, 1, 1]);
  });
});
