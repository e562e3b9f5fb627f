// CSRF tokens for our forms: an HMAC of the form's scope (e.g. the interaction uid) under a server
// key. Only a page we rendered knows it; no server-side storage needed.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function csrfToken(key: string, scope: string): string {
  return createHmac('sha256', key).update(`csrf\u0000${scope}`).digest('base64url');
}

export function csrfValid(key: string, scope: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(csrfToken(key, scope));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
