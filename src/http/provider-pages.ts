// oidc-provider's own pages (error, logout confirmation, logged out) rendered with our templates,
// and how pages name a client and link back to it. The composition root hands these to
// createProvider (oidc/provider.ts), so the provider's configuration does not import rendering.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { negotiateLocale, type Translate } from '../i18n/i18n.js';
import type { ProviderPages } from '../oidc/provider.js';
import type { Renderer } from './render.js';
import { errorPageLocals, type AppLink, type ErrorPlace } from './error-pages.js';
import { pageBrand } from './brand.js';

interface ClientLike {
  clientName?: string;
  metadata(): Record<string, unknown>;
}

function localeOf(ctx: KoaContextWithOIDC, fallback: string): string {
  const uiLocales = ctx.oidc?.params?.ui_locales;
  return negotiateLocale(typeof uiLocales === 'string' ? uiLocales : undefined, ctx.get('accept-language'), fallback);
}

/** How pages name a client: its registered client_name, else "the application" in the page's language. */
export function displayName(client: ClientLike | undefined | null, t: Translate): string {
  return client?.clientName || t('client.unnamed');
}

/** An http(s) URL as text, or null: client metadata is checked on load, and checked again here. */
function webUrl(value: unknown): URL | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : null;
  } catch {
    return null;
  }
}

/**
 * Where "back to the app" may go: only the client's registered home page (client_uri), else its
 * third-party-initiated login URI (initiate_login_uri, with `iss` as OIDC Core 4 requires). Never a
 * URL of the request: a redirect_uri or return URL there is the attacker's to choose.
 */
export function appLink(client: ClientLike | undefined | null, t: Translate, issuer: string): AppLink | null {
  if (!client) return null;
  const metadata = client.metadata();
  const home = webUrl(metadata.client_uri);
  const initiate = home ? null : webUrl(metadata.initiate_login_uri);
  initiate?.searchParams.set('iss', issuer);
  return { name: displayName(client, t), url: (home ?? initiate)?.toString() ?? null };
}

/** Which of our error pages an oidc-provider route's error belongs to. */
function placeOfRoute(route: string | undefined): ErrorPlace {
  if (route === 'authorization' || route === 'resume' || route === 'pushed_authorization_request') return 'authorization';
  if (route === 'end_session_confirm') return 'logout_confirm';
  if (route === 'end_session' || route === 'end_session_success') return 'logout';
  return 'other';
}

export function providerPages(renderer: Renderer, defaultLocale: string, issuer: string): ProviderPages {
  return {
    async renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, err?: Error) {
      const locale = localeOf(ctx, defaultLocale);
      const t = (key: string, vars?: Record<string, string | number>) => renderer.translate(locale, key, vars);
      const place = placeOfRoute(ctx.oidc?.route);
      // The client is known (registered, found by client_id), but its link back is offered only
      // where the table says the error is not the client's own misconfiguration.
      const client = ctx.oidc?.client;
      const app = client ? appLink(client, t, issuer) : null;
      // A resume whose sign-in is gone (used, expired, other browser) is an expired sign-in page.
      const kind = err instanceof errors.SessionNotFound && place === 'authorization' ? 'interaction_expired' : undefined;
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await renderer.page(
        'error',
        locale,
        errorPageLocals(t, { code: out.error, description: out.error_description, place, kind, app, requestId: ctx.state?.requestId }),
      );
    },
    async logoutSource(ctx: KoaContextWithOIDC, form: string) {
      const locale = localeOf(ctx, defaultLocale);
      const client = ctx.oidc.client;
      ctx.type = 'html';
      ctx.body = await renderer.page('logout', locale, {
        title: 'logout.title',
        form,
        clientName: renderer.clientName(locale, client),
        brand: pageBrand(ctx, client),
      });
    },
    async postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
      const locale = localeOf(ctx, defaultLocale);
      ctx.type = 'html';
      ctx.body = await renderer.page('logged-out', locale, { title: 'logout.done_title' });
    },
  };
}
