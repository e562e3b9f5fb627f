// The admin console's REVIEW queue (/admin/reviews): sign-ins and actions the risk rules held for a
// person to look at, newest first, each explained (the rules that matched, address, country and
// place, device, browser, user, client, time), with approve and deny forms. Settling goes through the
// one home for reviews (passwordless/action-reviews.ts `reviewAction`): once, even when two admins
// click at once (the loser is told it was settled already), audited with the admin's id.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { describeBrowser } from '../http/user-agent.js';
import { reviewAction } from '../passwordless/action-reviews.js';
import { findDecisionById, listDecisions, type ActionDecisionRow } from '../storage/action-decisions.js';
import { findUserById } from '../storage/users.js';
import { adminCsrf, adminForPage, adminForPost } from './admin-session.js';
import { pageLocale } from './account-page.js';

const PAGE_SIZE = 20;
const DECISION_ID = /^[\w-]{1,100}$/;
const DONE = new Set(['approved', 'denied']);

export function when(date: Date, locale: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(date) + ' UTC';
}

function parsed<T>(json: string, fallback: T): T {
  try {
    return (JSON.parse(json) as T) ?? fallback;
  } catch {
    return fallback;
  }
}

/** One held decision as the page explains it. */
async function reviewView(s: Services, row: ActionDecisionRow, locale: string) {
  const { matched } = parsed<{ matched?: Array<{ ruleId?: string; name?: string }> }>(row.explanation, {});
  const context = parsed<{ userAgent?: unknown }>(row.context, {});
  const userAgent = typeof context.userAgent === 'string' ? context.userAgent : null;
  const user = row.principalId ? await findUserById(s.db, row.principalId) : null;
  const client = await s.provider.Client.find(row.tenantId).catch(() => undefined);
  return {
    id: row.id,
    action: row.actionCode,
    rules: (matched ?? []).map((r) => r.name || r.ruleId || '?'),
    ip: row.ip,
    country: row.country,
    place: row.latitude != null && row.longitude != null ? `${row.latitude.toFixed(2)}, ${row.longitude.toFixed(2)}` : null,
    device: row.deviceId,
    browser: userAgent ? (describeBrowser(userAgent) ?? null) : null,
    userAgent,
    user: user?.email ?? user?.phoneNumber ?? row.userId,
    client: client?.clientName ? `${client.clientName} (${row.tenantId})` : row.tenantId,
    time: when(row.createdAt, locale),
  };
}

/** GET /admin/reviews?page=N */
export async function showReviews(s: Services, ctx: Context): Promise<void> {
  const pageNumber = /^\d{1,6}$/.test(String(ctx.query.page ?? '')) ? Math.max(1, Number(ctx.query.page)) : 1;
  const admin = await adminForPage(s, ctx, pageNumber > 1 ? `/admin/reviews?page=${pageNumber}` : '/admin/reviews');
  if (!admin) return;
  const locale = pageLocale(s, ctx);
  const rows = await listDecisions(s.db, { state: 'REVIEW_REQUIRED' }, PAGE_SIZE + 1, (pageNumber - 1) * PAGE_SIZE);
  const reviews = await Promise.all(rows.slice(0, PAGE_SIZE).map((row) => reviewView(s, row, locale)));
  const done = typeof ctx.query.done === 'string' && DONE.has(ctx.query.done) ? `admin.reviews.${ctx.query.done}` : null;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-reviews', locale, {
    title: 'admin.reviews.title',
    section: 'reviews',
    csrf: adminCsrf(s, admin),
    reviews,
    notice: done,
    previous: pageNumber > 1 ? pageNumber - 1 : null,
    next: rows.length > PAGE_SIZE ? pageNumber + 1 : null,
  });
}

/** POST /admin/reviews/approve|deny with the decision's id: settled once, audited with the admin's id. */
export async function submitReview(s: Services, ctx: Context, verdict: 'approve' | 'deny'): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const id = (ctx.request.body as Record<string, unknown> | undefined)?.id;
  const row = typeof id === 'string' && DECISION_ID.test(id) ? await findDecisionById(s.db, id) : null;
  if (!row) throw new SesameError('notFound', { detail: 'No such decision.' });
  const state = verdict === 'approve' ? 'REVIEW_SUCCEEDED' : 'REVIEW_FAILED';
  const settled = await reviewAction(s.db, row, state, { via: 'console', reviewedBy: `admin:${admin.userId}`, ip: ctx.ip });
  if (!settled) throw new SesameError('reviewSettled');
  ctx.status = 303;
  ctx.redirect(`/admin/reviews?done=${verdict === 'approve' ? 'approved' : 'denied'}`);
}
