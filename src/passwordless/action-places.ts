// The place facts of a tracked action (`ip.country`, `ip.asn`, `ip.isAnonymous`, `travel.*`...) and
// the place stored on its decision. Each database is read only when a rule reads its variable; the
// place is also looked up whenever city databases are configured, so the next action has an
// earlier place to measure travel from even when this one's policy did not ask.
import { variablesOf, type ActionPolicy, type GeoConfig } from '../config/actions.js';
import { asnOf, asnTables } from '../risk/ip-asn.js';
import { countryDatabase, countryOf, database, isAnonymousIp, isPrivateIp, normalizeIp, placeOf, travelBetween, type Place, type Travel } from '../risk/ip-data.js';
import { lastPlacedDecision } from '../storage/action-decisions.js';
import type { Db } from '../storage/db.js';

const PLACE_VARIABLES = ['ip.country', 'ip.asn', 'ip.asnName', 'ip.isAnonymous', 'ip.isPrivate', 'travel.distanceKm', 'travel.speedKmh', 'travel.isImpossible'];

export interface PlaceFacts {
  /** Values by variable name, only for the variables asked. */
  facts: Map<string, unknown>;
  /** What the decision row stores (nulls when unknown or not looked up). */
  stored: { country: string | null; latitude: number | null; longitude: number | null };
}

/** The place facts `variables` name, and the place to store, for an action from `ip` by the tenant's user. */
export async function placeFacts(deps: { geo: GeoConfig; db: Db }, req: { tenantId: string; userId: string; ip: string }, variables: Set<string>, now: Date): Promise<PlaceFacts> {
  const asked = PLACE_VARIABLES.filter((name) => variables.has(name));
  const facts = new Map<string, unknown>();
  const stored = { country: null as string | null, latitude: null as number | null, longitude: null as number | null };
  const address = normalizeIp(req.ip);
  const wantsPlace = deps.geo.cityDatabases.length > 0;
  if (!address) {
    for (const name of asked) facts.set(name, defaultOf(name));
    return { facts, stored };
  }
  const country = asked.includes('ip.country') || wantsPlace ? await countryOf(address) : null;
  const place: Place | null = wantsPlace ? await placeOf(deps.geo.cityDatabases, address) : null;
  if (place) Object.assign(stored, { latitude: place.latitude, longitude: place.longitude });
  stored.country = country ?? place?.country ?? null;
  const asn = asked.some((name) => name.startsWith('ip.asn')) ? await asnOf(address) : null;
  const travel = asked.some((name) => name.startsWith('travel.')) ? await travelTo(deps, req, place, now) : null;
  const value: Record<string, () => unknown> = {
    'ip.country': () => country,
    'ip.asn': () => asn?.asn ?? null,
    'ip.asnName': () => asn?.name ?? null,
    'ip.isAnonymous': () => isAnonymousIp(deps.geo, address),
    'ip.isPrivate': () => isPrivateIp(address),
    'travel.distanceKm': () => travel?.distanceKm ?? null,
    'travel.speedKmh': () => travel?.speedKmh ?? null,
    'travel.isImpossible': () => travel?.isImpossible ?? false,
  };
  for (const name of asked) facts.set(name, value[name]!());
  return { facts, stored };
}

/** What a variable holds when the address is not one (a malformed `ip`): unknown place, not anonymous. */
function defaultOf(name: string): unknown {
  return name === 'ip.isAnonymous' || name === 'ip.isPrivate' || name === 'travel.isImpossible' ? false : null;
}

/** The move since the user's last allowed action with a place, or null without both places. */
async function travelTo(deps: { geo: GeoConfig; db: Db }, req: { tenantId: string; userId: string }, place: Place | null, now: Date): Promise<Travel | null> {
  if (!place) return null;
  const last = await lastPlacedDecision(deps.db, req.tenantId, req.userId);
  if (!last || last.latitude === null || last.longitude === null) return null;
  return travelBetween({ latitude: last.latitude, longitude: last.longitude, at: last.createdAt }, { ...place, at: now }, deps.geo.maxTravelSpeedKmh);
}

/**
 * Opens, in the background after the start, the data the configured policies read (the ASN tables
 * take about a second to load), so the first action does not wait for it. Policies a tenant saves
 * later through the rules API still load their data on first use. Returns what it loaded.
 */
export async function warmIpData(actions: { policies: Record<string, ActionPolicy>; geo: GeoConfig }): Promise<string[]> {
  const read = new Set(Object.values(actions.policies).flatMap((policy) => [...variablesOf(policy)]));
  const loads: [string, boolean, () => Promise<unknown>][] = [
    ['country', read.has('ip.country') || actions.geo.cityDatabases.length > 0, countryDatabase],
    ['asn', read.has('ip.asn') || read.has('ip.asnName'), asnTables],
    ['city', actions.geo.cityDatabases.length > 0, () => Promise.all(actions.geo.cityDatabases.map(database))],
  ];
  const wanted = loads.filter(([, wants]) => wants);
  await Promise.all(wanted.map(([, , load]) => load()));
  return wanted.map(([name]) => name);
}
