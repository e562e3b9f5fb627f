// The hosted pages' browser id: a long-lived signed HttpOnly cookie holding a random id. It carries
// no identity; throttle.ts trusts it for an address only after this browser signed in there with a
// code, so the address's ceilings (raised by anyone else) never stop the owner's own browser.
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';

const BROWSER_COOKIE = 'sesame.browser';
const ID = /^[A-Za-z0-9_-]{22}$/;

/** The id this browser presented (signed by us), or undefined. */
export function browserIdOf(ctx: Context): string | undefined {
  const value = ctx.cookies.get(BROWSER_COOKIE, { signed: true });
  return value && ID.test(value) ? value : undefined;
}

/**
 * This browser's id, set (or refreshed) for `maxAgeSeconds`. One id per request: a second call (the
 * code step, then the risk stop of the same response) answers the id the first one set, where the
 * request's cookie would still say none and a new id would replace the one the code step recorded.
 */
export function ensureBrowserId(ctx: Context, maxAgeSeconds: number): string {
  const state = ctx.state as { browserId?: string };
  const id = state.browserId ?? browserIdOf(ctx) ?? randomBytes(16).toString('base64url');
  state.browserId = id;
  ctx.cookies.set(BROWSER_COOKIE, id, { httpOnly: true, sameSite: 'lax', path: '/interaction', secure: ctx.secure, signed: true, maxAge: maxAgeSeconds * 1000 });
  return id;
}
