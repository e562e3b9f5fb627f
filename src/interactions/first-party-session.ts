// Who is signed in on one of Sesame's own pages that are first-party OIDC clients of Sesame itself
// (oidc/first-party-clients.ts: the account page, the admin console). An unsigned-in visitor is sent
// through /authorize (code + PKCE, state in a flow cookie), and the callback keeps the result in a
// short signed cookie scoped to the page's path. That cookie counts only while the oidc-provider
// session it came from lives, so signing out (or "sign out other sessions") ends it too. Sensitive
// actions need a fresh sign-in: the request goes back through /authorize with max_age.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { internalRedirectUri, pkceChallenge, redeemInternalCode, type InternalClient, type InternalSignIn } from '../oidc/first-party-clients.js';
import { findSession } from '../storage/oidc-sessions.js';
import { csrfToken, csrfValid } from '../http/csrf.js';
import { SesameError } from '../errors.js';

/** One page's sign-in: its client, cookies and path, where a sign-in may return to, what it adds to /authorize. */
export interface FirstPartyPage {
  client: InternalClient;
  /** The path the cookies are scoped to, and where a sign-in returns by default. */
  home: string;
  sessionCookie: string;
  flowCookie: string;
  /** Where a sign-in may return to: the page's own paths only (no open redirect). */
  returnPaths: RegExp;
  sessionSeconds: number;
  /** A sign-in at most this old counts as fresh (and is what max_age asks for). */
  freshSeconds: number;
  /** The 401's detail for a POST without a session. */
  signInFirst: string;
  /** Parameters every /authorize of this page carries (the console's essential MFA acr). */
  authorizeParams?: Record<string, string>;
  /** Refuses a sign-in the page does not take (throws); the console's second-factor check. */
  accept?: (signedIn: InternalSignIn) => void;
}

export interface PageSession {
  /** This cookie session's own random id: the CSRF scope and what passkey challenges are bound to. */
  id: string;
  userId: string;
  /** oidc-provider's session uid. */
  sessionUid: string;
  /** When the user last proved who they are (seconds since the epoch). */
  authTime: number;
  amr: string[];
}

type Stored = PageSession & { exp: number };
type Flow = { state: string; verifier: string; next: string };
const FLOW_SECONDS = 10 * 60;

function cookieOptions(ctx: Context, page: FirstPartyPage, seconds: number) {
  return { httpOnly: true, sameSite: 'lax' as const, signed: true, path: page.home, secure: ctx.secure, maxAge: seconds * 1000, overwrite: true };
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

function writeCookie(ctx: Context, page: FirstPartyPage, name: string, value: unknown, seconds: number) {
  ctx.cookies.set(name, Buffer.from(JSON.stringify(value)).toString('base64url'), cookieOptions(ctx, page, seconds));
}

function sameText(a: string, b: unknown): boolean {
  return typeof b === 'string' && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function safeNext(page: FirstPartyPage, next: string): string {
  return page.returnPaths.test(next) ? next : page.home;
}

/** GET <home>/callback: this browser's flow (state), the code redeemed once with its verifier, the session cookie set. */
async function finishSignIn(page: FirstPartyPage, s: Pick<Services, 'config' | 'db' | 'provider'>, ctx: Context): Promise<PageSession> {
  const flow = readCookie<Flow>(ctx, page.flowCookie);
  ctx.cookies.set(page.flowCookie, '', { ...cookieOptions(ctx, page, 0), maxAge: 0 });
  const { code, state, error } = ctx.query;
  if (!flow || !sameText(flow.state, state)) throw new SesameError('badRequest', { detail: 'This sign-in was not started in this browser, or it already finished.' });
  // The user cancelled on the sign-in page (or it failed): nothing to keep, back to the start.
  if (typeof error === 'string') throw new SesameError('badRequest', { detail: 'The sign-in did not complete.' });
  const signedIn = typeof code === 'string' ? await redeemInternalCode(s.provider, page.client, code, flow.verifier, s.config.issuer) : null;
  if (!signedIn) throw new SesameError('badRequest', { detail: 'This sign-in is no longer valid. Start again.' });
  page.accept?.(signedIn);
  const session: Stored = {
    id: randomBytes(18).toString('base64url'),
    userId: signedIn.accountId,
    sessionUid: signedIn.sessionUid,
    authTime: signedIn.authTime,
    amr: signedIn.amr,
    exp: Math.floor(Date.now() / 1000) + page.sessionSeconds,
  };
  writeCookie(ctx, page, page.sessionCookie, session, page.sessionSeconds);
  ctx.status = 303;
  ctx.redirect(safeNext(page, flow.next));
  return session;
}

/** The sign-in functions of one page. */
export function firstPartySession(page: FirstPartyPage) {
  const csrfScope = (session: PageSession) => `${page.home.slice(1)}:${session.id}`;

  /** The signed-in user of this browser, or null (no cookie, expired, or its oidc-provider session ended). */
  async function current(s: Pick<Services, 'db'>, ctx: Context): Promise<PageSession | null> {
    const stored = readCookie<Stored>(ctx, page.sessionCookie);
    if (!stored || typeof stored.exp !== 'number' || stored.exp * 1000 <= Date.now()) return null;
    const session = await findSession(s.db, String(stored.sessionUid));
    if (!session || session.accountId !== stored.userId) return null;
    return { id: stored.id, userId: stored.userId, sessionUid: stored.sessionUid, authTime: stored.authTime, amr: Array.isArray(stored.amr) ? stored.amr : [] };
  }

  function isFresh(session: PageSession, slack = 0): boolean {
    return Date.now() / 1000 - session.authTime <= page.freshSeconds + slack;
  }

  function csrf(s: Pick<Services, 'csrfKey'>, session: PageSession): string {
    return csrfToken(s.csrfKey, csrfScope(session));
  }

  /** For every POST: a session (else 401) and its CSRF token, from the form or the X-CSRF-Token header (else 403). */
  async function requirePost(s: Pick<Services, 'db' | 'csrfKey'>, ctx: Context): Promise<PageSession> {
    const session = await current(s, ctx);
    if (!session) throw new SesameError('unauthorized', { detail: page.signInFirst });
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const given = typeof body.csrf === 'string' ? body.csrf : ctx.get('x-csrf-token');
    if (!csrfValid(s.csrfKey, csrfScope(session), given)) throw new SesameError('csrf');
    return session;
  }

  /** Sends the browser to sign in (`fresh`: prove it again unless done within freshSeconds), then back to `next`. */
  function signInUrl(s: Pick<Services, 'config'>, ctx: Context, next: string, fresh: boolean): string {
    const flow: Flow = { state: randomBytes(18).toString('base64url'), verifier: randomBytes(32).toString('base64url'), next: safeNext(page, next) };
    writeCookie(ctx, page, page.flowCookie, flow, FLOW_SECONDS);
    const url = new URL('/authorize', s.config.issuer);
    const params = {
      client_id: page.client.id,
      response_type: 'code',
      redirect_uri: internalRedirectUri(s.config.issuer, page.client),
      scope: 'openid',
      state: flow.state,
      code_challenge: pkceChallenge(flow.verifier),
      code_challenge_method: 'S256',
      ...page.authorizeParams,
      ...(fresh && { max_age: String(page.freshSeconds) }),
    };
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url.toString();
  }

  function sendToSignIn(s: Pick<Services, 'config'>, ctx: Context, next: string, fresh: boolean): void {
    ctx.status = 303;
    ctx.redirect(signInUrl(s, ctx, next, fresh));
  }

  /** Drops this browser's session cookie (signing out: the oidc-provider session is ended by the caller). */
  function forget(ctx: Context): void {
    ctx.cookies.set(page.sessionCookie, '', { ...cookieOptions(ctx, page, 0), maxAge: 0 });
  }

  return {
    current,
    forget,
    isFresh,
    csrf,
    requirePost,
    signInUrl,
    sendToSignIn,
    finishSignIn: (s: Pick<Services, 'config' | 'db' | 'provider'>, ctx: Context) => finishSignIn(page, s, ctx),
  };
}
