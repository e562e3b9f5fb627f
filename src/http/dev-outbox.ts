// /dev/outbox: every message "sent", for development without a mail server. Never in production.
import Router from '@koa/router';
import type { Services } from '../services.js';
import { listMessages } from '../storage/outbox.js';
import { negotiateLocale } from '../i18n/i18n.js';

export function devOutboxRouter(s: Services): Router {
  const router = new Router();
  router.get('/dev/outbox', async function showOutbox(ctx) {
    const messages = await listMessages(s.db, 50);
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.body = { messages };
      return;
    }
    const locale = negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
    ctx.type = 'html';
    ctx.body = await s.renderer.page('outbox', locale, { title: 'outbox.title', messages });
  });
  return router;
}
