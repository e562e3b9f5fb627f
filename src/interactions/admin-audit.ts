// The admin console's AUDIT LOG (/admin/audit): the security events newest first, filtered with a
// plain GET form (user, application, event, days), a page at a time with the storage's opaque
// cursor, and the same filter as a CSV download (/admin/audit.csv, at most MAX_AUDIT_PAGE rows).
// Viewing is reading; a download takes the log out of Sesame, so it is itself audited with the
// admin's id. What the log stores is what is shown: an erased user is the pseudonymous id.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { ADMIN_CLIENT } from '../oidc/first-party-clients.js';
import { auditCsv, auditView } from '../passwordless/audit-log.js';
import { auditTypes, encodeAuditCursor, MAX_AUDIT_PAGE, queryAudit, recordAudit } from '../storage/audit.js';
import { adminForPage } from './admin-session.js';
import { pageLocale } from './account-page.js';
import { filterOf, formOf, queryOf } from './admin-audit-filter.js';

const PAGE_SIZE = 50;
/** How long the type select's list is reused: reading it scans the whole log, too much for every view. */
const TYPES_SECONDS = 60;
const knownTypes = new WeakMap<object, { at: number; types: Promise<string[]> }>();

/** The event types the log holds, read at most once a minute per database. */
function typesOf(s: Services): Promise<string[]> {
  const cached = knownTypes.get(s.db);
  if (cached && Date.now() - cached.at < TYPES_SECONDS * 1000) return cached.types;
  const types = auditTypes(s.db);
  knownTypes.set(s.db, { at: Date.now(), types });
  types.catch(() => knownTypes.delete(s.db));
  return types;
}

function when(date: Date, locale: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC' }).format(date) + ' UTC';
}

/** GET /admin/audit?user=&client=&type=&from=&to=&cursor= */
export async function showAudit(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPage(s, ctx, '/admin/audit');
  if (!admin) return;
  const locale = pageLocale(s, ctx);
  const form = formOf(ctx);
  const filter = await filterOf(s, ctx, form, true);
  const page = 'query' in filter ? await queryAudit(s.db, { ...filter.query, limit: PAGE_SIZE }) : { events: [], next: null };
  const types = await typesOf(s);
  const query = queryOf(form);
  ctx.status = 'error' in filter ? 400 : 200;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-audit', locale, {
    title: 'admin.audit.title',
    section: 'audit',
    error: 'error' in filter ? filter.error : null,
    form,
    // The select offers the types the log holds, and keeps one typed into the URL that it does not.
    types: form.type && !types.includes(form.type) ? [...types, form.type] : types,
    events: page.events.map((row) => ({ ...auditView(row), time: when(row.createdAt, locale), datetime: row.createdAt.toISOString() })),
    filtered: query !== '',
    paged: typeof ctx.query.cursor === 'string',
    newest: `/admin/audit${query ? `?${query}` : ''}`,
    older: page.next ? `/admin/audit?${query ? `${query}&` : ''}cursor=${encodeAuditCursor(page.next)}` : null,
    csv: `/admin/audit.csv${query ? `?${query}` : ''}`,
    max: MAX_AUDIT_PAGE.toLocaleString(locale),
  });
}

/** GET /admin/audit.csv with the page's filter: every matching event up to MAX_AUDIT_PAGE, newest first; audited. */
export async function downloadAudit(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPage(s, ctx, '/admin/audit');
  if (!admin) return;
  const form = formOf(ctx);
  const filter = await filterOf(s, ctx, form, false);
  if ('error' in filter) throw new SesameError('badRequest', { detail: 'These audit filters are not valid. Go back to the audit log and correct them.' });
  const { events } = await queryAudit(s.db, { ...filter.query, limit: MAX_AUDIT_PAGE });
  // The filter, minus the user field: an email typed there must not outlive that user's erasure here.
  const kept = { ...form, user: form.user ? (filter.query.user?.id ?? '(no account)') : '' };
  await recordAudit(s.db, {
    type: 'admin.audit_exported',
    userId: admin.userId,
    clientId: ADMIN_CLIENT.id,
    ip: ctx.ip,
    reason: `rows=${events.length}; ${queryOf(kept) || 'no filter'}`.slice(0, 500),
    userAgent: ctx.get('user-agent').slice(0, 300),
  });
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  ctx.set('Content-Disposition', `attachment; filename="sesame-audit-${stamp}.csv"`);
  ctx.type = 'text/csv; charset=utf-8';
  ctx.body = auditCsv(events);
}
