// A person's display name (the `name` claim), as users give it on the sign-up step or operators
// set it with `sesame users set-name`: trimmed, 1 to 100 characters, no control characters or
// line breaks (it goes into tokens, pages and logs). Anything else is kept as typed; pages escape it.

export const MAX_NAME_LENGTH = 100;

// Control characters, line and paragraph separators, and bidi overrides/isolates (which can make
// a name display as something else next to other text).
const FORBIDDEN = /[\p{Cc}\p{Zl}\p{Zp}\u202A-\u202E\u2066-\u2069]/u;

/** The name to store, or null when `raw` is not an acceptable name. */
export function parseName(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const name = raw.normalize('NFC').trim();
  const length = [...name].length;
  if (length < 1 || length > MAX_NAME_LENGTH || FORBIDDEN.test(name)) return null;
  return name;
}
