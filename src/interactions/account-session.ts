// Who is signed in on the account page. The page is a first-party OIDC client of Sesame itself
// (oidc/account-client.ts): an unsigned-in visitor is sent through /authorize (code + PKCE), and the
// callback keeps the result in a short signed cookie of its own. That cookie counts only while the
// oidc-provider session it came from lives, so signing out (or "sign out other sessions" elsewhere)
// ends it too. Sensitive actions need a fresh sign-in: the request is sent back through /authorize
// with max_age, so a stale session is asked to prove itself again.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { ACCOUNT_CLIENT_ID, accountRedirectUri, pkceChallenge, redeemAccountCode } from '../oidc/account-client.js';
import { findSession } from '../storage/oidc-sessions.js';
import { csrfToken, csrfValid } from '../http/csrf.js';
import { SesameError } from '../errors.js';

const SESSION_COOKIE = 'sesame_account';
const FLOW_COOKIE = 'sesame_account_flow';
/** The account page's own session: short, renewed by a (usually silent) trip through /authorize. */
const SESSION_SECONDS = 30 * 60;
const FLOW_SECONDS = 10 * 60;
/** A sign-in at most this old may add or remove a passkey. */
export const FRESH_SECONDS = 5 * 60;

export interface AccountSession {
  /** This cookie session's own random id: the CSRF scope and what passkey challenges are bound to. */
  id: string;
  userId: string;
  /** oidc-provider's session uid. */
  sessionUid: string;
  /** When the user last proved who they are (seconds since the epoch). */
  authTime: number;
}

type Stored = AccountSession & { exp: number };
type Flow = { state: string; verifier: string; next: string };

/** Where a sign-in may return to: the account page's own paths only (no open redirect). */
const RETURN_PATHS = /^\/account(\?done=[a-z_]{1,40}|\/passkeys\/remove\?id=[\w-]{1,400}|\/mfa\/remove\?id=[\w%-]{1,200})?$/;

function cookieOptions(ctx: Context, seconds: number) {
  return { httpOnly: true, sameSite: 'lax' as const, signed: true, path: '/account', secure: ctx.secure, maxAge: seconds * 1000, overwrite: true };
}

function readCookie<T>(ctx: Context, name: string): T | null {
  const raw = ctx.cookies.get(name, { signed: true });
  if (!raw) return null;
  try {
    return JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as T;
  } catch {
    return null;
  }
}

function writeCookie(ctx: Context, name: string, value: unknown, seconds: number) {
  ctx.cookies.set(name, Buffer.from(JSON.stringify(value)).toString('base64url'), cookieOptions(ctx, seconds));
}

/** The signed-in user of this browser, or null (no cookie, expired, or its oidc-provider session ended). */
export async function accountSession(s: Pick<Services, 'db'>, ctx: Context): Promise<AccountSession | null> {
  const stored = readCookie<Stored>(ctx, SESSION_COOKIE);
  if (!stored || typeof stored.exp !== 'number' || stored.exp * 1000 <= Date.now()) return null;
  const session = await findSession(s.db, String(stored.sessionUid));
  if (!session || session.accountId !== stored.userId) return null;
  return { id: stored.id, userId: stored.userId, sessionUid: stored.sessionUid, authTime: stored.authTime };
}

export function isFresh(session: AccountSession, slack = 0): boolean {
  return Date.now() / 1000 - session.authTime <= FRESH_SECONDS + slack;
}

export function accountCsrf(s: Pick<Services, 'csrfKey'>, session: AccountSession): string {
  return csrfToken(s.csrfKey, `account:${session.id}`);
}

/** For every POST: a session (else 401) and its CSRF token, from the form or the X-CSRF-Token header (else 403). */
export async function requirePost(s: Pick<Services, 'db' | 'csrfKey'>, ctx: Context): Promise<AccountSession> {
  const session = await accountSession(s, ctx);
  if (!session) throw new SesameError('unauthorized', { detail: 'Sign in to your account first.' });
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const given = typeof body.csrf === 'string' ? body.csrf : ctx.get('x-csrf-token');
  if (!csrfValid(s.csrfKey, `account:${session.id}`, given)) throw new SesameError('csrf');
  return session;
}

/** Sends the browser to sign in (`fresh`: prove it again unless done within FRESH_SECONDS), then back to `next`. */
export function signInUrl(s: Pick<Services, 'config'>, ctx: Context, next: string, fresh: boolean): string {
  const flow: Flow = { state: randomBytes(18).toString('base64url'), verifier: randomBytes(32).toString('base64url'), next: RETURN_PATHS.test(next) ? next : '/account' };
  writeCookie(ctx, FLOW_COOKIE, flow, FLOW_SECONDS);
  const url = new URL('/authorize', s.config.issuer);
  const params = {
    client_id: ACCOUNT_CLIENT_ID,
    response_type: 'code',
    redirect_uri: accountRedirectUri(s.config.issuer),
    scope: 'openid',
    state: flow.state,
    code_challenge: pkceChallenge(flow.verifier),
    code_challenge_method: 'S256',
    ...(fresh && { max_age: String(FRESH_SECONDS) }),
  };
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

export function sendToSignIn(s: Pick<Services, 'config'>, ctx: Context, next: string, fresh: boolean): void {
  ctx.status = 303;
  ctx.redirect(signInUrl(s, ctx, next, fresh));
}

function sameText(a: string, b: unknown): boolean {
  return typeof b === 'string' && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** GET /account/callback: this browser's flow (state), the code redeemed once with its verifier, the session cookie set. */
export async function finishSignIn(s: Pick<Services, 'config' | 'db' | 'provider'>, ctx: Context): Promise<void> {
  const flow = readCookie<Flow>(ctx, FLOW_COOKIE);
  ctx.cookies.set(FLOW_COOKIE, '', { ...cookieOptions(ctx, 0), maxAge: 0 });
  const { code, state, error } = ctx.query;
  if (!flow || !sameText(flow.state, state)) throw new SesameError('badRequest', { detail: 'This sign-in was not started in this browser, or it already finished.' });
  // The user cancelled on the sign-in page (or it failed): nothing to keep, back to the start.
  if (typeof error === 'string') throw new SesameError('badRequest', { detail: 'The sign-in did not complete.' });
  const signedIn = typeof code === 'string' ? await redeemAccountCode(s.provider, code, flow.verifier, s.config.issuer) : null;
  if (!signedIn) throw new SesameError('badRequest', { detail: 'This sign-in is no longer valid. Start again.' });
  const session: Stored = {
    id: randomBytes(18).toString('base64url'),
    userId: signedIn.accountId,
    sessionUid: signedIn.sessionUid,
    authTime: signedIn.authTime,
    exp: Math.floor(Date.now() / 1000) + SESSION_SECONDS,
  };
  writeCookie(ctx, SESSION_COOKIE, session, SESSION_SECONDS);
  ctx.status = 303;
  ctx.redirect(RETURN_PATHS.test(flow.next) ? flow.next : '/account');
}
