// The autonomous system of an address, from @ip-location-db/asn (RouteViews + DB-IP, CC-BY-4.0):
// CSV ranges `start,end,asn,name` as decimal numbers, sorted by start. About 410k IPv4 and 100k IPv6
// rows are read into typed arrays the first time a rule asks (from the file's bytes chunk by chunk,
// so the event loop keeps turning while they load: asn-csv.ts) and searched by bisection. IPv6
// numbers are held as two 64-bit halves.
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import { nameOf, readAsnTable, type AsnTable } from './asn-csv.js';

export interface AsnRecord {
  asn: number;
  name: string;
}

const LOW = (1n << 64n) - 1n;

/** The 128-bit number of an IPv6 address (a dotted IPv4 tail allowed), as high and low halves. */
export function ipv6Number(address: string): [bigint, bigint] {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) =>
    (part ? part.split(':') : []).flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)];
      const [w = 0, x = 0, y = 0, z = 0] = g.split('.').map(Number);
      return [(w << 8) | x, (y << 8) | z];
    });
  const left = groups(head);
  const right = groups(tail ?? '');
  const all = tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const value = all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
  return [value >> 64n, value & LOW];
}

/** Index of the last row starting at or below the address, or -1. */
function bisect(t: AsnTable, hi: bigint | number, lo: bigint): number {
  const below = (i: number) => t.startHi[i]! < hi || (t.startHi[i] === hi && (t.startLo === null || t.startLo[i]! <= lo));
  let [low, high] = [0, t.length - 1];
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (below(mid)) [found, low] = [mid, mid + 1];
    else high = mid - 1;
  }
  return found;
}

function lookup(t: AsnTable, hi: bigint | number, lo: bigint): AsnRecord | null {
  const i = bisect(t, hi, lo);
  if (i < 0) return null;
  const inside = t.endHi[i]! > hi || (t.endHi[i] === hi && (t.endLo === null || t.endLo[i]! >= lo));
  return inside ? { asn: t.asns[i]!, name: nameOf(t, t.names[i]!) } : null;
}

let tables: Promise<{ v4: AsnTable; v6: AsnTable }> | undefined;

/** Loads both tables once (the first caller starts it; later ones wait for the same load). */
export function asnTables(): Promise<{ v4: AsnTable; v6: AsnTable }> {
  const resolve = (file: string) => createRequire(import.meta.url).resolve(`@ip-location-db/asn/${file}`);
  if (!tables) {
    tables = readAsnTable(resolve('asn-ipv4-num.csv'), false).then(async (v4) => ({ v4, v6: await readAsnTable(resolve('asn-ipv6-num.csv'), true) }));
    // A failed load (a file missing after an update) is tried again by the next caller.
    tables.catch(() => (tables = undefined));
  }
  return tables;
}

/** The autonomous system announcing a normalized address (see ip-data.ts `normalizeIp`), or null. */
export async function asnOf(address: string): Promise<AsnRecord | null> {
  const { v4, v6 } = await asnTables();
  if (isIPv4(address)) {
    const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
    return lookup(v4, value, 0n);
  }
  const [hi, lo] = ipv6Number(address);
  return lookup(v6, hi, lo);
}
