// The ASN CSV of @ip-location-db/asn (`start,end,asn,name` per line, decimal numbers, sorted by
// start) read straight from the bytes of the file's chunks into typed arrays. Read line by line as
// strings (readline), the load raised RSS by about 65 MB for 20 MB of tables, most of it kept after
// (the bench's peak was over the 300 MB per process allowed). Here nothing is allocated per line:
// digits go into 32-bit words, and each distinct name's bytes are kept once in one buffer (124k
// names for 515k rows), decoded when a lookup returns one.
//
// It reads lines as readline did: a line ends at LF, CR or CRLF; a line without three commas is
// skipped; the name is everything after the third comma and, when it starts with a quote, loses its
// first and last character and has each `""` read as `"`. A number field with anything but
// digits skips its line too (readline's loader stored a garbage number or failed the whole load).
import { open } from 'node:fs/promises';

export interface AsnTable {
  /** IPv4: the number itself in `hi`; IPv6: the high and low 64 bits. */
  startHi: Uint32Array | BigUint64Array;
  startLo: BigUint64Array | null;
  endHi: Uint32Array | BigUint64Array;
  endLo: BigUint64Array | null;
  asns: Uint32Array;
  /** Each row's name, as an index into `nameStarts`. */
  names: Uint32Array;
  /** The UTF-8 bytes of every distinct name, one after another. */
  nameBytes: Buffer;
  /** Where name i starts in `nameBytes`; it ends where name i + 1 starts (one entry more than names). */
  nameStarts: Uint32Array;
  length: number;
}

const [LF, CR, COMMA, QUOTE, ZERO] = [10, 13, 44, 34, 48];
/** The two 32-bit words of a 64-bit element, in the order this machine stores them. */
const [LOW_WORD, HIGH_WORD] = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? [0, 1] : [1, 0];

/** The name at `index` (a row's entry in `names`). */
export function nameOf(t: AsnTable, index: number): string {
  return t.nameBytes.toString('utf8', t.nameStarts[index], t.nameStarts[index + 1]);
}

/**
 * Reads an ASN CSV file chunk by chunk, asynchronously (the event loop turns between chunks), into
 * one buffer used again for each chunk: a read stream's new 64 KiB Buffer per chunk (32 MB in all,
 * freed at the next collections) left the load's RSS 6 MB higher.
 */
export async function readAsnTable(path: string, v6: boolean, chunkSize = 64 * 1024): Promise<AsnTable> {
  const file = await open(path);
  try {
    const parser = new AsnCsvParser(v6, (await file.stat()).size);
    const buffer = Buffer.allocUnsafeSlow(chunkSize);
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, chunkSize, null);
      if (bytesRead === 0) return parser.end();
      // Copied from as it is read (the carried line, new names): the buffer is filled again next.
      parser.push(buffer.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
}

/** Distinct names, each stored once: their bytes one after another, found again by a hash of them. */
class NamePool {
  bytes = Buffer.allocUnsafe(256 * 1024);
  /** Bytes of the names kept; a candidate name is written after them and kept only when new. */
  used = 0;
  starts = new Uint32Array(4096);
  hashes = new Int32Array(4096);
  count = 0;
  /** Open addressing: name index + 1, 0 for an empty slot; at most half full. */
  slots = new Int32Array(8192);

  /** Room for a candidate of up to `size` bytes after the names kept. */
  reserve(size: number): Buffer {
    if (this.used + size > this.bytes.length) {
      const bytes = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + size));
      this.bytes.copy(bytes, 0, 0, this.used);
      this.bytes = bytes;
    }
    return this.bytes;
  }

  /** The index of the candidate written from `used` to `end` (FNV-1a `hash`): an equal name's, or a new one. */
  intern(end: number, hash: number): number {
    const { bytes, used, starts } = this;
    const mask = this.slots.length - 1;
    let slot = hash & mask;
    for (let found = this.slots[slot]! - 1; found >= 0; found = this.slots[slot]! - 1) {
      if (this.hashes[found] === hash && starts[found + 1]! - starts[found]! === end - used && bytes.compare(bytes, used, end, starts[found], starts[found + 1]) === 0)
        return found;
      slot = (slot + 1) & mask;
    }
    const index = this.count++;
    if (this.count + 1 > starts.length) [this.starts, this.hashes] = [grown(starts, starts.length * 2), grown(this.hashes, starts.length * 2)];
    this.starts[index + 1] = this.used = end;
    this.hashes[index] = hash;
    this.slots[slot] = index + 1;
    if (this.count * 2 > this.slots.length) this.rehash();
    return index;
  }

  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    const mask = this.slots.length - 1;
    for (let index = 0; index < this.count; index++) {
      let slot = this.hashes[index]! & mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
      this.slots[slot] = index + 1;
    }
  }
}

/** A copy of `a` with room for `size` elements. */
function grown<T extends Uint32Array | Int32Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}

/** Fed the file's chunks in order, then `end()`; a line split between chunks is carried over in `carry`. */
export class AsnCsvParser {
  private readonly words: 1 | 2;
  /** The row columns; IPv6 numbers as two 32-bit words per 64-bit half. */
  private cols: { startHi: Uint32Array; startLo: Uint32Array; endHi: Uint32Array; endLo: Uint32Array; asns: Uint32Array; names: Uint32Array };
  private rows = 0;
  /** Bytes of the file before the current line (about: a carried line counts from its last chunk). */
  private position = 0;
  private read = 0;
  private readonly names = new NamePool();
  /** A number's 128 bits, least significant word first. */
  private readonly limbs = new Uint32Array(4);
  private carry = new Uint8Array(1024);
  private carried = 0;

  constructor(
    private readonly v6: boolean,
    private readonly fileSize: number,
  ) {
    this.words = v6 ? 2 : 1;
    const column = (width: number) => new Uint32Array(4096 * width);
    this.cols = { startHi: column(this.words), startLo: column(v6 ? 2 : 0), endHi: column(this.words), endLo: column(v6 ? 2 : 0), asns: column(1), names: column(1) };
  }

  push(chunk: Uint8Array): void {
    const read = this.read;
    this.read += chunk.length;
    this.position = read;
    let from = 0;
    if (this.carried > 0) {
      // The line begun in earlier chunks: completed in `carry` and read from there.
      const lf = chunk.indexOf(LF);
      this.carryOn(chunk, 0, lf < 0 ? chunk.length : lf);
      if (lf < 0) return;
      this.lines(this.carry, 0, this.carried);
      this.carried = 0;
      from = lf + 1;
    }
    for (let lf = chunk.indexOf(LF, from); lf >= 0; from = lf + 1, lf = chunk.indexOf(LF, from)) {
      this.position = read + from;
      this.lines(chunk, from, lf);
    }
    this.carryOn(chunk, from, chunk.length);
  }

  end(): AsnTable {
    this.lines(this.carry, 0, this.carried);
    const n = this.rows;
    const { cols, names } = this;
    // Views of the rows read, rather than copies that would briefly double the columns: the slack
    // past them (the estimate's margin) was never written, so its pages are mostly not resident.
    // IPv6 halves are seen as 64-bit numbers.
    const trim = (a: Uint32Array, width: number) => a.subarray(0, n * width);
    const big = (a: Uint32Array) => new BigUint64Array(a.buffer, 0, n);
    return {
      startHi: this.v6 ? big(cols.startHi) : trim(cols.startHi, 1),
      startLo: this.v6 ? big(cols.startLo) : null,
      endHi: this.v6 ? big(cols.endHi) : trim(cols.endHi, 1),
      endLo: this.v6 ? big(cols.endLo) : null,
      asns: trim(cols.asns, 1),
      names: trim(cols.names, 1),
      nameBytes: Buffer.from(names.bytes.subarray(0, names.used)),
      nameStarts: names.starts.slice(0, names.count + 1),
      length: n,
    };
  }

  private carryOn(chunk: Uint8Array, from: number, to: number): void {
    if (this.carried + to - from > this.carry.length) {
      const carry = new Uint8Array(Math.max(this.carry.length * 2, this.carried + to - from));
      carry.set(this.carry.subarray(0, this.carried));
      this.carry = carry;
    }
    this.carry.set(chunk.subarray(from, to), this.carried);
    this.carried += to - from;
  }

  /** The lines between `from` and an LF (or the end of the file) at `to`: one, or more split by lone CRs. */
  private lines(buf: Uint8Array, from: number, to: number): void {
    while (from < to) from = this.line(buf, from, to) + 1;
  }

  /** Reads the line starting at `from` into the next row; returns where it ends (a CR, or `to`). */
  private line(buf: Uint8Array, from: number, to: number): number {
    if (this.rows === this.cols.asns.length) this.grow();
    const { cols, limbs } = this;
    let i = from;
    for (let field = 0; field < 3; field++) {
      const v6Number = this.v6 && field < 2;
      i = this.digits(buf, i, to, v6Number ? 4 : 1);
      // Skipped: the fields written so far are overwritten by the next row.
      if (i === to || buf[i] !== COMMA) return lineEnd(buf, i, to);
      i++;
      const row = this.rows;
      if (field === 2) cols.asns[row] = limbs[0]!;
      else if (!v6Number) (field === 0 ? cols.startHi : cols.endHi)[row] = limbs[0]!;
      else {
        const hi = field === 0 ? cols.startHi : cols.endHi;
        const lo = field === 0 ? cols.startLo : cols.endLo;
        lo[2 * row + LOW_WORD] = limbs[0]!;
        lo[2 * row + HIGH_WORD] = limbs[1]!;
        hi[2 * row + LOW_WORD] = limbs[2]!;
        hi[2 * row + HIGH_WORD] = limbs[3]!;
      }
    }
    const end = lineEnd(buf, i, to);
    cols.names[this.rows++] = this.name(buf, i, end);
    return end;
  }

  /** Reads decimal digits from i into the first `words` of `limbs` (the others stay 0); returns where they stop. */
  private digits(buf: Uint8Array, i: number, to: number, words: number): number {
    const limbs = this.limbs;
    limbs.fill(0);
    for (; i < to; i++) {
      let carry = buf[i]! - ZERO;
      if (carry < 0 || carry > 9) break;
      for (let w = 0; w < words; w++) {
        const value = limbs[w]! * 10 + carry;
        limbs[w] = value; // modulo 2^32; value is below 2^36, exact in a double
        carry = Math.floor(value / 0x1_0000_0000);
      }
    }
    return i;
  }

  /** The index of the name field between `from` and `to`, written to the name pool. */
  private name(buf: Uint8Array, from: number, to: number): number {
    const quoted = from < to && buf[from] === QUOTE;
    const start = quoted ? from + 1 : from;
    const end = quoted ? Math.max(start, to - 1) : to;
    const bytes = this.names.reserve(end - start);
    let w = this.names.used;
    let hash = 0x811c9dc5 | 0;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      bytes[w++] = b;
      hash = Math.imul(hash ^ b, 0x01000193);
      if (quoted && b === QUOTE && i + 1 < end && buf[i + 1] === QUOTE) i++;
    }
    return this.names.intern(w, hash);
  }

  /**
   * Room for the rows still to come, estimated from the bytes per row so far and the file's size, so
   * that the columns are copied once or twice rather than at each doubling (8% over: the first rows of
   * the IPv4 file have shorter numbers than the rest, those of the IPv6 file longer ones).
   */
  private grow(): void {
    const rows = this.rows;
    const size = Math.max(rows + 4096, Math.ceil(((rows * this.fileSize) / Math.max(this.position, 1)) * 1.08));
    const cols = this.cols;
    const widen = (a: Uint32Array, width: number) => (width === 0 ? a : grown(a, size * width));
    this.cols = {
      startHi: widen(cols.startHi, this.words),
      startLo: widen(cols.startLo, this.v6 ? 2 : 0),
      endHi: widen(cols.endHi, this.words),
      endLo: widen(cols.endLo, this.v6 ? 2 : 0),
      asns: widen(cols.asns, 1),
      names: widen(cols.names, 1),
    };
  }
}

/** The first CR at or after i, or `to`. */
function lineEnd(buf: Uint8Array, i: number, to: number): number {
  while (i < to && buf[i] !== CR) i++;
  return i;
}
