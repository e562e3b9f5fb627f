// The ASN tables: the byte parser of src/risk/asn-csv.ts on small files with every case of the
// format, each read in chunks of many sizes (so each line and each multi-byte character is split
// across chunks somewhere), and lookups in the real tables of @ip-location-db/asn against a
// straightforward parse of the same CSV (strings, as the readline loader read it) for random addresses.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nameOf, readAsnTable, type AsnTable } from '../../src/risk/asn-csv.js';
import { asnOf, asnTables, type AsnRecord } from '../../src/risk/ip-asn.js';
import { normalizeIp } from '../../src/risk/ip-data.js';

interface Row {
  start: bigint;
  end: bigint;
  asn: number;
  name: string;
}

/** The rows of a CSV as the readline loader read them: lines split at LF, CR or CRLF, fields at the first three commas. */
function referenceRows(text: string): Row[] {
  return text.split(/\r\n|\n|\r/).flatMap((line) => {
    const [start, end, asn] = line.split(',', 3);
    const name = line.split(',').slice(3).join(',');
    if (asn === undefined || line.split(',').length < 4 || ![start, end, asn].every((n) => /^\d*$/.test(n!))) return [];
    return [{ start: BigInt(start!), end: BigInt(end!), asn: Number(asn), name: name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name }];
  });
}

function rowsOf(t: AsnTable): Row[] {
  const wide = (hi: bigint | number, lo: bigint | undefined) => (lo === undefined ? BigInt(hi) : (BigInt(hi) << 64n) | lo);
  return Array.from({ length: t.length }, (_, i) => ({
    start: wide(t.startHi[i]!, t.startLo?.[i]),
    end: wide(t.endHi[i]!, t.endLo?.[i]),
    asn: t.asns[i]!,
    name: nameOf(t, t.names[i]!),
  }));
}

const dir = mkdtempSync(join(tmpdir(), 'sesame-asn-'));
function fixture(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}
/** Chunk sizes: 1 to 13 bytes split every line, field and character somewhere; 64 KiB is the default. */
const CHUNKS = [1, 2, 3, 4, 5, 7, 8, 11, 13, 64, 64 * 1024];

const V4 =
  '16777216,16777471,13335,"Cloudflare, Inc."\r\n' +
  '16778240,16779263,38803,Gtelecom Pty Ltd\n' +
  '\n' +
  '33554432,33554687,201907,"LLC ""SPUTNIK"""\r\n' +
  'start,end,asn,name\n' +
  'not,a row\n' +
  '50331648,50331903,3215,Orange S.A.\r67108864,67108864,0,\n' +
  '83886080,83886335,12,"Ünïcödé ""q"" Ω 𝔸 日本"\n' +
  '100663296,100663551,13335,"Cloudflare, Inc."\n' +
  '117440512,117440767,7,"a""""b"\n' +
  '134217728,134217983,8,unquoted "as is",with comma\n' +
  '4294967040,4294967295,4294967295,"last, without newline"';

const V4_ROWS: Row[] = [
  { start: 16777216n, end: 16777471n, asn: 13335, name: 'Cloudflare, Inc.' },
  { start: 16778240n, end: 16779263n, asn: 38803, name: 'Gtelecom Pty Ltd' },
  { start: 33554432n, end: 33554687n, asn: 201907, name: 'LLC "SPUTNIK"' },
  { start: 50331648n, end: 50331903n, asn: 3215, name: 'Orange S.A.' },
  { start: 67108864n, end: 67108864n, asn: 0, name: '' },
  { start: 83886080n, end: 83886335n, asn: 12, name: 'Ünïcödé "q" Ω 𝔸 日本' },
  { start: 100663296n, end: 100663551n, asn: 13335, name: 'Cloudflare, Inc.' },
  { start: 117440512n, end: 117440767n, asn: 7, name: 'a""b' },
  { start: 134217728n, end: 134217983n, asn: 8, name: 'unquoted "as is",with comma' },
  { start: 4294967040n, end: 4294967295n, asn: 4294967295, name: 'last, without newline' },
];

// Around 2^64 (where the halves meet) and up to 2^128 - 1; a last line ending with CRLF.
const V6 =
  '0,18446744073709551615,1,low half\n' +
  '18446744073709551616,18446744073709551617,2,high half\n' +
  '42540488161975842760550356425300246528,42540488241204005274814694018844196863,6939,Hurricane Electric LLC\n' +
  '340282366920938463463374607431768211455,340282366920938463463374607431768211455,3,"top"\r\n';

const V6_ROWS: Row[] = [
  { start: 0n, end: (1n << 64n) - 1n, asn: 1, name: 'low half' },
  { start: 1n << 64n, end: (1n << 64n) + 1n, asn: 2, name: 'high half' },
  { start: 42540488161975842760550356425300246528n, end: 42540488241204005274814694018844196863n, asn: 6939, name: 'Hurricane Electric LLC' },
  { start: (1n << 128n) - 1n, end: (1n << 128n) - 1n, asn: 3, name: 'top' },
];

describe('ASN CSV parser', () => {
  it('reads quoted names, "" escapes, CRLF, lone CRs, blank and malformed lines and a last line without newline, in chunks of any size', async () => {
    const [v4, v6] = [fixture('v4.csv', V4), fixture('v6.csv', V6)];
    expect(referenceRows(V4)).toEqual(V4_ROWS);
    expect(referenceRows(V6)).toEqual(V6_ROWS);
    for (const size of CHUNKS) {
      const t4 = await readAsnTable(v4, false, size);
      expect({ size, rows: rowsOf(t4) }).toEqual({ size, rows: V4_ROWS });
      // Each distinct name is kept once: both Cloudflare rows point at the first one.
      expect([...t4.names]).toEqual([0, 1, 2, 3, 4, 5, 0, 6, 7, 8]);
      const t6 = await readAsnTable(v6, true, size);
      expect({ size, rows: rowsOf(t6) }).toEqual({ size, rows: V6_ROWS });
      expect([t6.startHi[1], t6.startLo![1], t6.endHi[0], t6.endLo![0]]).toEqual([1n, 0n, 0n, (1n << 64n) - 1n]);
    }
  });

  it('reads an empty file as an empty table', async () => {
    const t = await readAsnTable(fixture('empty.csv', ''), false);
    expect([t.length, rowsOf(t), t.nameStarts.length]).toEqual([0, [], 1]);
  });
});

/** Random numbers from a seed (mulberry32), so a failure can be run again. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The readline loader's answer: the last row starting at or below the address, if it ends at or above it. */
function referenceLookup(rows: Row[], value: bigint): AsnRecord | null {
  let [low, high, found] = [0, rows.length - 1, -1];
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (rows[mid]!.start <= value) [found, low] = [mid, mid + 1];
    else high = mid - 1;
  }
  const row = rows[found];
  return row && row.end >= value ? { asn: row.asn, name: row.name } : null;
}

/** 2,000 numbers: inside random rows, on and just beside their bounds, and anywhere in `space`. */
function sample(rows: Row[], bits: number, space: [bigint, bigint], next: () => number): bigint[] {
  const big = () => Array.from({ length: bits / 32 }, () => BigInt(Math.floor(next() * 2 ** 32))).reduce((acc, w) => (acc << 32n) | w, 0n);
  const row = () => rows[Math.floor(next() * rows.length)]!;
  const inside = Array.from({ length: 800 }, () => row()).map((r) => r.start + (big() % (r.end - r.start + 1n)));
  const bounds = Array.from({ length: 150 }, () => row()).flatMap((r) => [r.start - 1n, r.start, r.end, r.end + 1n]);
  const anywhere = Array.from({ length: 600 }, () => space[0] + (big() % (space[1] - space[0])));
  return [...inside, ...bounds, ...anywhere].filter((n) => n >= 0n && n < 1n << BigInt(bits));
}

const ipv4 = (n: bigint) => [24n, 16n, 8n, 0n].map((s) => (n >> s) & 255n).join('.');
/** Lowercase hex groups with the longest run of two or more zero groups written `::`, as addresses usually are. */
function ipv6(n: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => ((n >> s) & 0xffffn).toString(16));
  let [at, length] = [-1, 1];
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > length) [at, length] = [i, j - i];
    i = j;
  }
  return at < 0 ? groups.join(':') : `${groups.slice(0, at).join(':')}::${groups.slice(at + length).join(':')}`;
}

describe('ASN lookups', () => {
  // The tables load once per process (about a second, longer on a busy machine): in a hook, not in a test's time.
  beforeAll(() => asnTables());

  it('finds the autonomous system of IPv4 and IPv6 addresses, with quoted names', async () => {
    const ips = ['8.8.8.8', '1.1.1.1', '82.64.0.1', '133.242.0.1', '2001:4860:4860::8888', '2a01:e0a::1', '2606:4700:4700::1111', '10.0.0.1', '2001:db8::1'];
    expect(await Promise.all(ips.map(asnOf))).toEqual([
      { asn: 15169, name: 'Google LLC' },
      { asn: 13335, name: 'Cloudflare, Inc.' },
      { asn: 12322, name: 'Free SAS' },
      { asn: 7684, name: 'SAKURA Internet Inc.' },
      { asn: 15169, name: 'Google LLC' },
      { asn: 12322, name: 'Free SAS' },
      { asn: 13335, name: 'Cloudflare, Inc.' },
      null,
      null,
    ]);
    // A name with doubled quotes in the CSV ("LLC ""SPUTNIK""") is read back with single ones.
    expect(await asnOf('2.26.200.1')).toEqual({ asn: 201907, name: 'LLC "SPUTNIK"' });
  });

  it('answers as a plain parse of the CSV for 2,000 random addresses of each family', async () => {
    const resolve = createRequire(import.meta.url).resolve;
    const next = random(20_261_201);
    for (const [file, bits, space, format] of [
      ['asn-ipv4-num.csv', 32, [0n, 1n << 32n], ipv4],
      // Global unicast (2000::/3), where the table's rows are.
      ['asn-ipv6-num.csv', 128, [1n << 125n, 2n << 125n], ipv6],
    ] as const) {
      const rows = referenceRows(readFileSync(resolve(`@ip-location-db/asn/${file}`), 'utf8'));
      const addresses = sample(rows, bits, [...space], next).map((n) => ({ n, address: normalizeIp(format(n))! }));
      expect(addresses.length).toBeGreaterThan(1990);
      const answers = await Promise.all(addresses.map(({ address }) => asnOf(address)));
      expect(addresses.map(({ address }, i) => [address, answers[i]])).toEqual(addresses.map(({ n, address }) => [address, referenceLookup(rows, n)]));
      // Most of the sample lands in a row (the comparison is not of nulls alone).
      expect(answers.filter(Boolean).length).toBeGreaterThan(1000);
    }
  });
});
