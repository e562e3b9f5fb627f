// oidc-provider's own pages (error, logout confirmation, logged out) rendered with our templates.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { negotiateLocale } from '../i18n/i18n.js';
import type { Renderer } from '../http/render.js';

function localeOf(ctx: KoaContextWithOIDC, fallback: string): string {
  const uiLocales = ctx.oidc?.params?.ui_locales;
  return negotiateLocale(typeof uiLocales === 'string' ? uiLocales : undefined, ctx.get('accept-language'), fallback);
}

export function providerPages(renderer: Renderer, defaultLocale: string) {
  return {
    async renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) {
      const locale = localeOf(ctx, defaultLocale);
      ctx.type = 'html';
      ctx.body = await renderer.page('error', locale, {
        title: 'error.title',
        error: out.error,
        description: out.error_description ?? '',
      });
    },
    async logoutSource(ctx: KoaContextWithOIDC, form: string) {
      const locale = localeOf(ctx, defaultLocale);
      const client = ctx.oidc.client;
      ctx.type = 'html';
      ctx.body = await renderer.page('logout', locale, {
        title: 'logout.title',
        form,
        clientName: renderer.clientName(locale, client),
      });
    },
    async postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
      const locale = localeOf(ctx, defaultLocale);
      ctx.type = 'html';
      ctx.body = await renderer.page('logged-out', locale, { title: 'logout.done_title' });
    },
  };
}
