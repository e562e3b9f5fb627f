// A hosted sign-in page whose interaction is gone. After signing in, the browser's Back button
// comes back here (oidc-provider deleted the interaction when the app got its answer): that is no
// failure, so the page says the sign-in is done and where to go on, and a stale form sent from it
// (the consent page's "Allow") lands on the same page. A page that expired names its app and how
// to sign in again; one this browser never had stays the plain "expired or another browser" page.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { appLink } from '../http/provider-pages.js';
import { progressOf } from './progress.js';
import { pageBrand } from '../http/brand.js';

export async function showGoneInteraction(s: Services, ctx: Context): Promise<void> {
  const uid = ctx.params.uid!;
  const locale = negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
  ctx.state.locale = locale;
  const progress = progressOf(ctx, s.csrfKey, uid);
  if (!progress) throw new SesameError('interactionExpired');
  const t = (key: string, vars?: Record<string, string | number>) => s.renderer.translate(locale, key, vars);
  // A client removed since has no name or link any more; the page still says what happened.
  const client = await s.provider.Client.find(progress.clientId).catch(() => undefined);
  const app = appLink(client, t, s.config.issuer) ?? { name: t('client.unnamed'), url: null };
  if (progress.state === 'open') {
    ctx.state.app = app;
    throw new SesameError('interactionTimedOut');
  }
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    ctx.status = 303;
    return ctx.redirect(`/interaction/${uid}`);
  }
  const done = progress.state === 'done';
  ctx.type = 'html';
  ctx.body = await s.renderer.page('interaction-done', locale, {
    title: done ? 'done.title' : 'done.cancelled_title',
    lead: done ? 'done.lead' : 'done.cancelled_lead',
    next: done ? 'done.next' : 'done.cancelled_next',
    appName: app.name,
    appUrl: app.url,
    brand: pageBrand(ctx, client),
  });
}
