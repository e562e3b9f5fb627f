// What an error page says: one table from an error code and the place it happened (authorization,
// logout, hosted sign-in, link, external connection) to a heading, what happened in plain words and
// what to do next, in the page's language. The protocol code and description stay on the page,
// folded under "Technical details", for whoever has to fix the app. Both error renderers (ours,
// pageErrors below, and oidc-provider's in http/provider-pages.ts) build their page here.
import type { Context } from 'koa';
import type { Translate } from '../i18n/i18n.js';
import type { Renderer } from './render.js';
import { catchErrors, errorLocale, oauthErrorBody } from './errors.js';

export type ErrorPlace = 'authorization' | 'logout' | 'logout_confirm' | 'interaction' | 'link' | 'connection' | 'other';

/** The app a page may send the user back to: its display name and its registered URL, if any. */
export interface AppLink {
  name: string;
  url: string | null;
}

/** Message keys `errorpage.<id>.heading|what|next`; `back`: a link back to the app makes sense. */
interface Entry {
  id: string;
  back: boolean;
  next: boolean;
}

const entry = (id: string, back: boolean, next = true): Entry => ({ id, back, next });

// The app's own registration is wrong (unknown client, unregistered redirect_uri...): signing in
// again cannot help, and the app's URLs in the request are not to be trusted, so no way back.
const MISCONFIGURED = entry('misconfigured', false);
const BAD_REQUEST = entry('bad_request', true);
const EXPIRED = entry('expired', true);
const GENERIC = entry('generic', true);

const BY_CODE: Record<string, Entry> = {
  invalid_client: MISCONFIGURED,
  invalid_client_metadata: MISCONFIGURED,
  invalid_redirect_uri: MISCONFIGURED,
  unauthorized_client: MISCONFIGURED,
  unsupported_response_type: MISCONFIGURED,
  unsupported_response_mode: MISCONFIGURED,
  request_not_supported: MISCONFIGURED,
  request_uri_not_supported: MISCONFIGURED,
  registration_not_supported: MISCONFIGURED,
  invalid_request_object: MISCONFIGURED,
  interaction_expired: EXPIRED,
  // These messages of ours already say what to do: no second sentence for it.
  csrf: entry('csrf', false, false),
  temporarily_unavailable: entry('unavailable', false, false),
  server_error: entry('server', true, false),
  too_many_requests: entry('too_many', false, false),
  too_many_attempts: entry('too_many', false, false),
  access_denied: entry('cancelled', true),
  not_found: entry('not_found', false),
  account_blocked: entry('blocked', false),
  self_lockout: entry('self_lockout', false, false),
};

// Links explain themselves (their messages already say to ask for a new one); a connection's
// messages name the problem for the operator of the sign-in service.
const LINK = entry('link', true, false);
const CONNECTION = entry('connection', true);

/** The page for `code` (ours or OAuth's) at `place`. */
export function errorEntry(code: string, place: ErrorPlace): Entry {
  if (place === 'logout_confirm') return entry('logout_expired', false);
  if (place === 'logout') return code === 'server_error' || code === 'temporarily_unavailable' ? BY_CODE[code]! : entry('logout_invalid', false);
  const known = BY_CODE[code];
  if (place === 'link' && (!known || known === BAD_REQUEST || code === 'access_denied')) return LINK;
  if (place === 'connection' && !known) return CONNECTION;
  return known ?? (place === 'authorization' ? BAD_REQUEST : GENERIC);
}

/** Where a page of ours is, from its path (oidc-provider's pages say it by route, see http/provider-pages.ts). */
export function placeOfPath(path: string): ErrorPlace {
  if (path.startsWith('/interaction/')) return 'interaction';
  if (path === '/login/link' || path.startsWith('/login/link/') || path === '/passwordless/verify_redirect') return 'link';
  if (path.startsWith('/connections/')) return 'connection';
  return 'other';
}

export interface ErrorPageInput {
  /** The error code shown under technical details (OAuth's, or one of ours). */
  code: string;
  /** A message key of ours (shown as what happened), or a raw protocol description (folded away). */
  description?: string;
  place: ErrorPlace;
  /** The code to look up when it differs from the one shown (a SessionNotFound is an `invalid_request`). */
  kind?: string;
  app?: AppLink | null;
  requestId?: string;
}

/** The locals of views/pages/error.ejs. Every value is text: the template escapes it. */
export function errorPageLocals(t: Translate, input: ErrorPageInput) {
  const found = errorEntry(input.kind ?? input.code, input.place);
  const key = `errorpage.${found.id}`;
  const app = input.app?.name ?? t('client.unnamed');
  const description = input.description ?? '';
  // A key of ours is a plain sentence already written for the user; anything else is protocol text.
  const ours = description !== '' && t(description) !== description;
  return {
    title: `${key}.heading`,
    heading: t(`${key}.heading`),
    what: ours ? t(description) : t(`${key}.what`, { app }),
    next: found.next ? t(`${key}.next`, { app }) : null,
    back: found.back && input.app?.url ? { url: input.app.url, label: t('errorpage.back', { app }) } : null,
    code: input.code,
    detail: ours ? null : description || null,
    requestId: input.requestId ?? null,
  };
}

/**
 * Errors of the routes people open in a browser: the error page, or OAuth JSON for a caller that
 * prefers JSON. A route that knows the client sets `ctx.state.app` (an AppLink) for the way back.
 */
export function pageErrors(renderer: Renderer, defaultLocale: string) {
  return catchErrors(async function renderErrorPage(ctx: Context, err) {
    const locale = errorLocale(ctx, defaultLocale);
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.body = oauthErrorBody(renderer, locale, err);
      return;
    }
    const t: Translate = (key, vars) => renderer.translate(locale, key, vars);
    const app = (ctx.state.app as AppLink | undefined) ?? null;
    const description = err.key ?? err.description;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await renderer.page(
      'error',
      locale,
      errorPageLocals(t, { code: err.code, description, place: placeOfPath(ctx.path), app, requestId: ctx.state.requestId as string | undefined }),
    );
  });
}
