// What the pre-built challenge page (authsignal-page.ts) shares between its routes: the request's
// action (from the token in the query or the form; no cookies, since in popup mode the page runs in
// a cross-site iframe where third-party cookies are gone), the per-form CSRF derived from that
// token, the framing headers (only the tenant's own origins may frame it), where a passed challenge
// may send the browser (only within the tenant's origins: never an open redirect), and the finish.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { csrfToken, csrfValid } from '../http/csrf.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { actionOfToken, tenantOrigins, type BearerAction } from './authsignal-common.js';
import type { ActionTokenKind } from '../passwordless/action-tokens.js';
import type { ActionDecisionRow } from '../storage/action-decisions.js';
import type { Requester } from '../passwordless/one-time-codes.js';

export type Mode = 'popup' | 'redirect';

/** One page request: the action, how the page was opened, its language and who may frame it. */
export interface PageAction extends BearerAction {
  token: string;
  mode: Mode;
  locale: string;
  origins: string[];
}

/** The page's answers for a token it cannot use: readable pages, not the client API's JSON. */
const TOKEN_PAGES: Record<string, string> = { actionsExpiredToken: 'action.expired', actionsTokenNotSet: 'action.invalid', actionsInvalidToken: 'action.invalid' };

export function fieldsOf(ctx: Context): Record<string, unknown> {
  return ctx.method === 'POST' ? ((ctx.request.body ?? {}) as Record<string, unknown>) : (ctx.query as Record<string, unknown>);
}

function localeOf(s: Services, ctx: Context, row?: ActionDecisionRow): string {
  let given: string | undefined;
  try {
    given = row ? (JSON.parse(row.context) as { locale?: string }).locale : undefined;
  } catch {
    given = undefined;
  }
  return negotiateLocale(typeof given === 'string' ? given : undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
}

/**
 * Only the tenant's origins may frame the page (popup mode is an iframe on the app); without any,
 * nobody. X-Frame-Options cannot name an origin, so it goes: CSP frame-ancestors replaces it.
 */
export function frameHeaders(ctx: Context, origins: readonly string[]) {
  const ancestors = origins.length ? origins.join(' ') : "'none'";
  ctx.set(
    'Content-Security-Policy',
    `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors ${ancestors}; base-uri 'none'; object-src 'none'`,
  );
  ctx.remove('X-Frame-Options');
}

/** Renders one of the page's templates (views/pages/action-*.ejs). */
export async function show(s: Services, ctx: Context, locale: string, template: string, locals: Record<string, unknown>, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = await s.renderer.page(template, locale, { title: 'action.title', error: null, notice: null, attemptsLeft: null, retryAfter: null, ...locals });
}

/** A readable page saying why the page cannot go on (expired or unknown token, challenge over). */
export function message(s: Services, ctx: Context, locale: string, key: string, status: number) {
  return show(s, ctx, locale, 'action-message', { heading: key }, status);
}

/**
 * The action of this request's token (`kinds`), or null after answering with a readable page.
 * Sets the framing headers of the tenant's origins.
 */
export async function loadAction(s: Services, ctx: Context, kinds: ActionTokenKind[] = ['track']): Promise<PageAction | null> {
  const fields = fieldsOf(ctx);
  const token = typeof fields.token === 'string' ? fields.token : undefined;
  const mode: Mode = fields.mode === 'popup' ? 'popup' : 'redirect';
  frameHeaders(ctx, []);
  let action: BearerAction;
  try {
    action = await actionOfToken(s, token, kinds);
  } catch (err) {
    if (err instanceof SesameError && TOKEN_PAGES[err.kind]) {
      await message(s, ctx, localeOf(s, ctx), TOKEN_PAGES[err.kind]!, err.status);
      return null;
    }
    throw err;
  }
  const origins = await tenantOrigins(s, action.row.tenantId);
  frameHeaders(ctx, origins);
  return { ...action, token: token!, mode, locale: localeOf(s, ctx, action.row), origins };
}

/** The CSRF value of the page's forms: bound to the track token (its jti), so no cookie is needed. */
export function pageCsrf(s: Services, a: PageAction): string {
  return csrfToken(s.csrfKey, `action-page\u0000${a.claims.jti}`);
}

export function requireFormCsrf(s: Services, a: PageAction, ctx: Context) {
  if (!csrfValid(s.csrfKey, `action-page\u0000${a.claims.jti}`, fieldsOf(ctx).csrf)) throw new SesameError('csrf');
}

export function requesterOf(ctx: Context, a: PageAction): Requester {
  return { ip: ctx.ip, clientId: a.row.tenantId, locale: a.locale, userAgent: ctx.get('user-agent').slice(0, 300) };
}

/** Where the browser goes after the challenge: the action's redirectUrl when it is within the tenant's origins. */
export function redirectTarget(a: Pick<PageAction, 'row' | 'origins'>): { url: string | null; refused: boolean } {
  const given = a.row.redirectUrl;
  if (!given) return { url: null, refused: false };
  if (!URL.canParse(given)) return { url: null, refused: true };
  const url = new URL(given);
  const ok = (url.protocol === 'https:' || url.protocol === 'http:') && a.origins.includes(url.origin);
  return ok ? { url: given, refused: false } : { url: null, refused: true };
}

/** The page's URL for this action with `extra` query parameters (method switch, "sent" notice). */
export function pageUrl(a: Pick<PageAction, 'token' | 'mode'>, extra: Record<string, string> = {}, path = '/v1/ui'): string {
  const query = new URLSearchParams({ token: a.token, ...(a.mode === 'popup' ? { mode: 'popup' } : {}), ...extra });
  return `${path}?${query.toString()}`;
}

/**
 * The end of a passed challenge: in popup mode a page whose script hands the result token to the
 * app's window; in redirect mode a 303 to `redirectUrl?token=<result>` (or a "done" page without one).
 */
export async function finishWith(s: Services, ctx: Context, a: PageAction, resultToken: string) {
  if (a.mode === 'popup') return show(s, ctx, a.locale, 'action-done', { popup: true, resultToken, origins: a.origins });
  const target = redirectTarget(a);
  if (target.refused) return message(s, ctx, a.locale, 'action.bad_redirect', 400);
  if (!target.url) return show(s, ctx, a.locale, 'action-done', { popup: false, resultToken: null, origins: [] });
  ctx.status = 303;
  ctx.redirect(withToken(target.url, resultToken));
}

/** `url` with `token` added to its query (the app's redirectUrl may have one already). */
function withToken(url: string, token: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

/**
 * The end of a failed challenge (its last attempt spent): a page saying so. The app learns it as it
 * learns a pass, from a token to validate (which answers CHALLENGE_FAILED, isValid false): its own
 * track token, handed to its window at once in popup mode, linked back to `redirectUrl` otherwise.
 */
export function failedPage(s: Services, ctx: Context, a: PageAction, status: number) {
  const target = redirectTarget(a);
  const popup = a.mode === 'popup';
  const back = !popup && target.url ? withToken(target.url, a.token) : null;
  return show(s, ctx, a.locale, 'action-message', { heading: 'action.failed', back, popup, resultToken: popup ? a.token : null, origins: a.origins }, status);
}

/** Recovery codes that came with the user's first factor, shown once; the page's form goes on to the finish. */
export function recoveryPage(s: Services, ctx: Context, a: PageAction, resultToken: string, codes: readonly string[]) {
  const download = `data:text/plain;charset=utf-8,${encodeURIComponent(`${s.config.ui.productName}\r\n${codes.join('\r\n')}\r\n`)}`;
  return show(s, ctx, a.locale, 'action-recovery', { codes, download, resultToken, mode: a.mode });
}
