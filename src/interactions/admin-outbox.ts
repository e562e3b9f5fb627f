// The admin console's outbox (/admin/outbox): the support case "the mails stopped". Messages the
// worker gave up on come first (newest first, with the channel's last error and an "older" cursor),
// then those waiting to be sent. Recipients are shown, content never (it holds codes and links).
// Retry goes through the one home for it (delivery/outbox-retry.ts): once, even when two admins
// click at once, audited with the admin's id; the result comes back as a notice after a redirect.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { retryFailedMessage } from '../delivery/outbox-retry.js';
import { decodeCursor, listOutbox, type OutboxEntry } from '../storage/outbox-operations.js';
import { adminCsrf, adminForPage, adminForPost } from './admin-session.js';
import { when } from './admin-reviews.js';
import { pageLocale } from './account-page.js';

const PAGE_SIZE = 20;
const MESSAGE_ID = /^[\w-]{1,100}$/;
const CURSOR = /^[\w-]{1,400}$/;
/** The flash after a retry: its key of admin.outbox.*, and whether it is an error. */
const DONE: Record<string, { key: string; error: boolean }> = {
  retried: { key: 'admin.outbox.retried', error: false },
  stale: { key: 'admin.outbox.stale', error: true },
  erased: { key: 'admin.outbox.erased', error: true },
};

function messageView(entry: OutboxEntry, locale: string) {
  return {
    id: entry.id,
    channel: `admin.outbox.channel.${entry.channel === 'sms' || entry.channel === 'webhook' ? entry.channel : 'email'}`,
    recipient: entry.recipient,
    attempts: entry.attempts,
    lastError: entry.lastError,
    created: when(entry.createdAt, locale),
    nextAttempt: entry.nextAttemptAt ? when(entry.nextAttemptAt, locale) : null,
    retryable: entry.retryable,
  };
}

/** GET /admin/outbox?older=<cursor>: failed deliveries (a page of them), then what waits to be sent. */
export async function showOutbox(s: Services, ctx: Context): Promise<void> {
  const raw = typeof ctx.query.older === 'string' && CURSOR.test(ctx.query.older) ? ctx.query.older : null;
  const after = raw ? (decodeCursor(raw) ?? undefined) : undefined;
  const admin = await adminForPage(s, ctx, after ? `/admin/outbox?older=${raw}` : '/admin/outbox');
  if (!admin) return;
  const locale = pageLocale(s, ctx);
  const failed = await listOutbox(s.db, { states: ['failed'], after, limit: PAGE_SIZE });
  const pending = after ? null : await listOutbox(s.db, { states: ['pending'], limit: PAGE_SIZE });
  const done = typeof ctx.query.done === 'string' ? DONE[ctx.query.done] : undefined;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-outbox', locale, {
    title: 'admin.outbox.title',
    section: 'outbox',
    csrf: adminCsrf(s, admin),
    failed: failed.entries.map((e) => messageView(e, locale)),
    pending: pending ? pending.entries.map((e) => messageView(e, locale)) : null,
    morePending: pending?.next !== null && pending !== null,
    notice: done && !done.error ? done.key : null,
    error: done?.error ? done.key : null,
    newest: after !== undefined,
    older: failed.next,
  });
}

/** POST /admin/outbox/retry with the message's id: back in the queue once, audited with the admin's id. */
export async function submitRetry(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const id = (ctx.request.body as Record<string, unknown> | undefined)?.id;
  if (typeof id !== 'string' || !MESSAGE_ID.test(id)) throw new SesameError('notFound', { detail: 'No such message.' });
  const by = { via: 'console' as const, actor: `admin:${admin.userId}`, userId: admin.userId, ip: ctx.ip };
  const result = await retryFailedMessage(s.db, id, by, s.wakeWorker);
  if (result.outcome === 'notFound') throw new SesameError('notFound', { detail: 'No such message.' });
  ctx.status = 303;
  ctx.redirect(`/admin/outbox?done=${result.outcome === 'retried' ? 'retried' : result.outcome === 'erased' ? 'erased' : 'stale'}`);
}
