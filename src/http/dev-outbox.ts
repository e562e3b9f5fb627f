// /dev/outbox: every message captured (nothing is really delivered), for development without a mail
// server. Mounted only when no real delivery is configured (config/load.ts), and answered only to
// requesters on this machine, by their TCP address: proxy headers never count, since they are
// whatever the client wrote. Never in production.
import Router from '@koa/router';
import type { LoadedConfig } from '../config/load.js';
import type { Db } from '../storage/db.js';
import type { Renderer } from './render.js';
import { listMessages } from '../storage/outbox.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { peerIsLoopback } from '../passwordless/requester-network.js';

type Row = Awaited<ReturnType<typeof listMessages>>[number];

/** The JSON form documented in the README: what a script reads, not the worker's bookkeeping. */
function asJson(m: Row) {
  const { id, channel, recipient, subject, text, html, status, createdAt, sentAt } = m;
  return { id, channel, recipient, subject, text, html, status, createdAt, sentAt };
}

/** What the page uses (the composition root passes its Services, which fit). */
export interface DevOutboxDeps {
  config: LoadedConfig;
  db: Db;
  renderer: Renderer;
}

export function devOutboxRouter(s: DevOutboxDeps): Router {
  const router = new Router();
  router.get('/dev/outbox', async function showOutbox(ctx, next) {
    // To anyone else the page does not exist: the same answer as with the outbox off.
    if (!peerIsLoopback(ctx)) return next();
    const messages = await listMessages(s.db, 50);
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.body = { messages: messages.map(asJson) };
      return;
    }
    const locale = negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
    ctx.type = 'html';
    ctx.body = await s.renderer.page('outbox', locale, { title: 'outbox.title', messages });
  });
  return router;
}
