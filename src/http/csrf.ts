// CSRF tokens for our forms: an HMAC of the form's scope (e.g. the interaction uid) under a server
// key. Only a page we rendered knows it; no server-side storage needed.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

export function csrfToken(key: string, scope: string): string {
  return createHmac('sha256', key).update(`csrf\u0000${scope}`).digest('base64url');
}

export function csrfValid(key: string, scope: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const expected = Buffer.from(csrfToken(key, scope));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Double-submit CSRF for pages without a session (link landings): a random value in a cookie only
 * this browser holds, echoed by the form. Another site can neither read nor set the cookie.
 */
export function issueCookieToken(ctx: Context, name: string, path: string): string {
  const token = randomBytes(24).toString('base64url');
  ctx.cookies.set(name, token, { httpOnly: true, sameSite: 'lax', path, signed: false, secure: ctx.secure });
  return token;
}

export function cookieTokenValid(ctx: Context, name: string, given: unknown): boolean {
  const cookie = ctx.cookies.get(name, { signed: false }) ?? '';
  if (!cookie || typeof given !== 'string' || cookie.length !== given.length) return false;
  return timingSafeEqual(Buffer.from(cookie), Buffer.from(given));
}
