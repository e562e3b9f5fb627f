// The autonomous system of an address, from @ip-location-db/asn (RouteViews + DB-IP, CC-BY-4.0):
// CSV ranges `start,end,asn,name` as decimal numbers, sorted by start. About 410k IPv4 and 100k IPv6
// rows are read into typed arrays the first time a rule asks (line by line, so the event loop keeps
// turning while they load) and searched by bisection. IPv6 numbers are held as two 64-bit halves.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { isIPv4 } from 'node:net';

export interface AsnRecord {
  asn: number;
  name: string;
}

interface Table {
  /** IPv4: the number itself in `hi`; IPv6: the high and low 64 bits. */
  startHi: BigUint64Array | Uint32Array;
  startLo: BigUint64Array | null;
  endHi: BigUint64Array | Uint32Array;
  endLo: BigUint64Array | null;
  asns: Uint32Array;
  names: Uint32Array;
  nameList: string[];
  length: number;
}

const LOW = (1n << 64n) - 1n;

/** The name field of a CSV line after its third comma: quoted (`"LLC ""X"""`) or bare. */
function nameField(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replaceAll('""', '"') : text;
}

async function loadTable(path: string, v6: boolean): Promise<Table> {
  let size = 1024;
  const grow = <T extends Uint32Array | BigUint64Array>(a: T): T => {
    const b = new (a.constructor as new (n: number) => T)(size);
    b.set(a as never);
    return b;
  };
  let startHi: Uint32Array | BigUint64Array = v6 ? new BigUint64Array(size) : new Uint32Array(size);
  let endHi: Uint32Array | BigUint64Array = v6 ? new BigUint64Array(size) : new Uint32Array(size);
  let startLo = v6 ? new BigUint64Array(size) : null;
  let endLo = v6 ? new BigUint64Array(size) : null;
  let asns = new Uint32Array(size);
  let names = new Uint32Array(size);
  const nameIds = new Map<string, number>();
  const nameList: string[] = [];
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    const a = line.indexOf(',');
    const b = line.indexOf(',', a + 1);
    const c = line.indexOf(',', b + 1);
    if (a < 0 || b < 0 || c < 0) continue;
    if (n === size) {
      size *= 2;
      [startHi, endHi, asns, names] = [grow(startHi), grow(endHi), grow(asns), grow(names)];
      if (startLo && endLo) [startLo, endLo] = [grow(startLo), grow(endLo)];
    }
    // Copied out of the line, which a slice would otherwise keep alive.
    const name = Buffer.from(nameField(line.slice(c + 1))).toString();
    let id = nameIds.get(name);
    if (id === undefined) nameIds.set(name, (id = nameList.push(name) - 1));
    if (v6) {
      const start = BigInt(line.slice(0, a));
      const end = BigInt(line.slice(a + 1, b));
      (startHi as BigUint64Array)[n] = start >> 64n;
      startLo![n] = start & LOW;
      (endHi as BigUint64Array)[n] = end >> 64n;
      endLo![n] = end & LOW;
    } else {
      startHi[n] = Number(line.slice(0, a)) as never;
      endHi[n] = Number(line.slice(a + 1, b)) as never;
    }
    asns[n] = Number(line.slice(b + 1, c));
    names[n] = id;
    n++;
  }
  // Trimmed to the rows read (the arrays doubled as they filled).
  const trim = <T extends Uint32Array | BigUint64Array>(a: T): T => a.slice(0, n) as T;
  return { startHi: trim(startHi), startLo: startLo && trim(startLo), endHi: trim(endHi), endLo: endLo && trim(endLo), asns: trim(asns), names: trim(names), nameList, length: n };
}

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
function bisect(t: Table, hi: bigint | number, lo: bigint): number {
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

function lookup(t: Table, hi: bigint | number, lo: bigint): AsnRecord | null {
  const i = bisect(t, hi, lo);
  if (i < 0) return null;
  const inside = t.endHi[i]! > hi || (t.endHi[i] === hi && (t.endLo === null || t.endLo[i]! >= lo));
  return inside ? { asn: t.asns[i]!, name: t.nameList[t.names[i]!]! } : null;
}

let tables: Promise<{ v4: Table; v6: Table }> | undefined;

/** Loads both tables once (the first caller starts it; later ones wait for the same load). */
export function asnTables(): Promise<{ v4: Table; v6: Table }> {
  const resolve = (file: string) => createRequire(import.meta.url).resolve(`@ip-location-db/asn/${file}`);
  if (!tables) {
    tables = Promise.all([loadTable(resolve('asn-ipv4-num.csv'), false), loadTable(resolve('asn-ipv6-num.csv'), true)]).then(([v4, v6]) => ({ v4, v6 }));
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
