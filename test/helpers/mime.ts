// Reads a received mail the way a mail client does: headers unfolded and RFC 2047 words decoded,
// multipart bodies split, quoted-printable and base64 undone. Tests then see what a reader sees,
// not the wire encoding (no mail parser is among the dependencies, and MIME's basics are short).

export interface MimePart {
  headers: Map<string, string>;
  /** The decoded body of a leaf part (UTF-8); '' for a multipart container. */
  body: string;
  parts: MimePart[];
}

export interface ParsedMail {
  subject: string;
  /** Every leaf part, in order, with its media type (`text/plain`, `text/html`...). */
  leaves: Array<{ type: string; body: string }>;
}

function splitHeadersAndBody(raw: string): { head: string; body: string } {
  const match = /\r?\n\r?\n/.exec(raw);
  if (!match) return { head: raw, body: '' };
  return { head: raw.slice(0, match.index), body: raw.slice(match.index + match[0].length) };
}

function parseHeaders(head: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** Quoted-printable (RFC 2045 6.7) to bytes: soft line breaks dropped, =XX turned into the byte. */
export function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(joined[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

function decodeBody(body: string, encoding: string | undefined): string {
  const kind = (encoding ?? '7bit').toLowerCase();
  if (kind === 'quoted-printable') return decodeQuotedPrintable(body).toString('utf8');
  if (kind === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return body;
}

/** RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`); blanks between two words vanish. */
export function decodeHeaderWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_whole, _charset: string, kind: string, text: string) =>
      kind.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : decodeQuotedPrintable(text.replace(/_/g, ' ')).toString('utf8'),
    );
}

function mediaType(headers: Map<string, string>): string {
  return (headers.get('content-type') ?? 'text/plain').split(';')[0]!.trim().toLowerCase();
}

export function parseMimePart(raw: string): MimePart {
  const { head, body } = splitHeadersAndBody(raw);
  const headers = parseHeaders(head);
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  if (!mediaType(headers).startsWith('multipart/') || !boundary) {
    return { headers, body: decodeBody(body, headers.get('content-transfer-encoding')), parts: [] };
  }
  const sections = body.split(new RegExp(`\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*\\r?\\n?`));
  // The first section is the preamble, the last the epilogue after the closing delimiter.
  const parts = sections.slice(1, -1).map(parseMimePart);
  return { headers, body: '', parts };
}

function leavesOf(part: MimePart): ParsedMail['leaves'] {
  if (part.parts.length === 0) return [{ type: mediaType(part.headers), body: part.body }];
  return part.parts.flatMap(leavesOf);
}

export function parseMail(raw: string): ParsedMail {
  const root = parseMimePart(raw);
  return { subject: decodeHeaderWords(root.headers.get('subject') ?? ''), leaves: leavesOf(root) };
}

/** The one part of `type` in a mail (throws when there is none or more than one). */
export function partOf(mail: ParsedMail, type: string): string {
  const found = mail.leaves.filter((leaf) => leaf.type === type);
  if (found.length !== 1) throw new Error(`expected one ${type} part, found ${found.length}`);
  return found[0]!.body;
}
