// Who is signed in on the account page: a first-party OIDC client of Sesame itself, its sign-in and
// signed cookie (scoped to /account) from first-party-session.ts. Adding or removing a passkey or a
// factor needs a fresh sign-in (FRESH_SECONDS, asked for with max_age).
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { ACCOUNT_CLIENT } from '../oidc/first-party-clients.js';
import { firstPartySession, type PageSession } from './first-party-session.js';

/** A sign-in at most this old may add or remove a passkey. */
export const FRESH_SECONDS = 5 * 60;

export type AccountSession = PageSession;

const page = firstPartySession({
  client: ACCOUNT_CLIENT,
  home: '/account',
  sessionCookie: 'sesame_account',
  flowCookie: 'sesame_account_flow',
  returnPaths: /^\/account(\?done=[a-z_]{1,40}|\/passkeys\/remove\?id=[\w-]{1,400}|\/mfa\/remove\?id=[\w%-]{1,200})?$/,
  // The account page's own session: short, renewed by a (usually silent) trip through /authorize.
  sessionSeconds: 30 * 60,
  freshSeconds: FRESH_SECONDS,
  signInFirst: 'Sign in to your account first.',
});

/** The signed-in user of this browser, or null (no cookie, expired, or its oidc-provider session ended). */
export function accountSession(s: Pick<Services, 'db'>, ctx: Context): Promise<AccountSession | null> {
  return page.current(s, ctx);
}

export const { isFresh, requirePost, signInUrl, sendToSignIn, finishSignIn } = page;
export const accountCsrf = page.csrf;
