// Where this browser's sign-in page stands, kept in a cookie on the page's own path: which client it
// is for, and whether it is open, done or cancelled. oidc-provider deletes an interaction once the
// browser goes on to the app, so when the user comes back to the page (Back button, an old tab) or
// it expired, only this cookie still knows what it was for. A MAC makes it ours: a browser can drop
// it but not make one up.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

const COOKIE = 'sesame.step';
const STATES = ['open', 'done', 'cancelled'] as const;

export type ProgressState = (typeof STATES)[number];

export interface Progress {
  clientId: string;
  state: ProgressState;
}

function mac(key: string, uid: string, state: string, clientId: string): string {
  return createHmac('sha256', key).update(`step\u0000${uid}\u0000${state}\u0000${clientId}`).digest('base64url');
}

/**
 * Records `progress` for interaction `uid` in this browser. It lives twice as long as an interaction
 * (`ttl`, seconds), so a page that expired still names its app for a while.
 */
export function markProgress(ctx: Context, key: string, uid: string, progress: Progress, ttl: number): void {
  const client = Buffer.from(progress.clientId).toString('base64url');
  const value = `${progress.state}.${client}.${mac(key, uid, progress.state, progress.clientId)}`;
  ctx.cookies.set(COOKIE, value, { httpOnly: true, sameSite: 'lax', path: `/interaction/${uid}`, secure: ctx.secure, signed: false, maxAge: 2 * ttl * 1000 });
}

/** What this browser recorded for interaction `uid`, or null when nothing (valid) was. */
export function progressOf(ctx: Context, key: string, uid: string): Progress | null {
  const [state, client, given, ...rest] = (ctx.cookies.get(COOKIE, { signed: false }) ?? '').split('.');
  if (rest.length || !state || !client || !given || !(STATES as readonly string[]).includes(state)) return null;
  const clientId = Buffer.from(client, 'base64url').toString();
  const expected = Buffer.from(mac(key, uid, state, clientId));
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return null;
  return { clientId, state: state as ProgressState };
}
