// The admin console's USERS pages (/admin/users): search accounts by email, phone, name or id, and one
// account's page for support (profile, sessions, grants, second factors, passkeys, recent sign-ins
// and risk decisions) with its action forms. The reads come from the homes the CLI and management API
// use (passwordless/user-accounts.ts, storage/users.ts searchUsers...); the actions, their audit and
// the self-lockout guard are admin-user-actions.ts.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { parsePhone } from '../passwordless/identifiers.js';
import { listFactors } from '../passwordless/mfa/factors.js';
import { grantsOf, sessionsOf } from '../passwordless/user-accounts.js';
import { listPrincipalDecisions } from '../storage/action-decisions.js';
import { storable } from '../storage/db.js';
import { listPasskeys } from '../storage/passkeys.js';
import { findUserRecord, searchUsers } from '../storage/users.js';
import { adminCsrf, adminForPage } from './admin-session.js';
import { factorLabel } from './account-mfa-view.js';
import { pageLocale, passkeyLabel, signInsView, when } from './account-page.js';

const PAGE_SIZE = 50;
const RECENT = 20;
/** Ids as Sesame makes them (UUIDs) and as imports bring them; anything else is no account. */
export const USER_ID = /^[\w.@|:-]{1,200}$/;
/** Notices after an action (`?done=`): anything else shows none. */
const DONE = new Set(['blocked', 'unblocked', 'session_ended', 'sessions_ended', 'grant_revoked', 'factor_removed', 'passkey_removed', 'factors_reset', 'deleted']);

function notice(ctx: Context): string | null {
  return typeof ctx.query.done === 'string' && DONE.has(ctx.query.done) ? `admin.users.done.${ctx.query.done}` : null;
}

/** The search's one box: an exact id, or part of an email, phone number or name; a phone typed with spaces is read as E.164. */
function searchTerm(raw: unknown): string | undefined | null {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || raw.length > 200 || !storable(raw)) return null;
  const q = raw.trim();
  if (q === '') return undefined;
  return (q.startsWith('+') && parsePhone(q)?.e164) || q;
}

/** GET /admin/users?q=&after= : a page of accounts, ids ascending (the cursor is the last id shown). */
export async function showUsers(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPage(s, ctx, '/admin/users');
  if (!admin) return;
  const locale = pageLocale(s, ctx);
  const q = searchTerm(ctx.query.q);
  const after = typeof ctx.query.after === 'string' && USER_ID.test(ctx.query.after) ? ctx.query.after : undefined;
  const rows = q === null ? [] : await searchUsers(s.db, { q, after, limit: PAGE_SIZE + 1 });
  const users = rows.slice(0, PAGE_SIZE).map((u) => ({
    id: u.id,
    email: u.email,
    phone: u.phoneNumber,
    name: u.name,
    blocked: u.blockedAt !== null,
    created: when(u.createdAt, locale),
  }));
  if (q === null) ctx.status = 400;
  const more = rows.length > PAGE_SIZE ? new URLSearchParams({ ...(q ? { q } : {}), after: users.at(-1)!.id }).toString() : null;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-users', locale, {
    title: 'admin.users.title',
    section: 'users',
    csrf: adminCsrf(s, admin),
    q: typeof ctx.query.q === 'string' && q !== null ? ctx.query.q : '',
    searched: q !== undefined,
    users,
    more,
    error: q === null ? 'admin.users.search_invalid' : null,
    notice: notice(ctx),
  });
}

/** The account the path names, else the 404 page. */
export async function pathAccount(s: Pick<Services, 'db'>, ctx: Context) {
  const id = String(ctx.params.id ?? '');
  const user = USER_ID.test(id) ? await findUserRecord(s.db, id) : null;
  if (!user) throw new SesameError('notFound', { detail: 'No user with this id.' });
  return user;
}

async function clientName(s: Services, clientId: string): Promise<string> {
  const client = await s.provider.Client.find(clientId).catch(() => undefined);
  return client?.clientName ? `${client.clientName} (${clientId})` : clientId;
}

/** Everything the detail page shows of one account, as text the template escapes. */
async function accountView(s: Services, userId: string, locale: string) {
  const time = (iso: string | null) => (iso ? when(new Date(iso), locale) : null);
  const sessions = (await sessionsOf(s.db, userId)).map((x) => ({ id: x.id, signedIn: time(x.signedInAt), grants: x.grantIds.length }));
  const grants = await Promise.all(
    (await grantsOf(s.db, userId)).map(async (g) => ({ id: g.id, client: await clientName(s, g.clientId), scope: g.scope, granted: time(g.grantedAt) })),
  );
  const factors = (await listFactors(s, userId)).map((f) => ({
    id: f.id,
    ...factorLabel(f),
    confirmed: f.confirmed,
    created: when(f.createdAt, locale),
    lastUsed: f.lastUsedAt ? when(f.lastUsedAt, locale) : null,
  }));
  const passkeys = (await listPasskeys(s.db, userId)).map((p) => ({
    id: p.id,
    label: passkeyLabel(p),
    synced: p.backedUp,
    created: when(p.createdAt, locale),
    lastUsed: p.lastUsedAt ? when(p.lastUsedAt, locale) : null,
  }));
  const decisions = await Promise.all(
    (await listPrincipalDecisions(s.db, userId, RECENT)).map(async (d) => ({
      action: d.actionCode,
      state: d.state,
      held: d.state === 'REVIEW_REQUIRED',
      client: await clientName(s, d.tenantId),
      ip: d.ip,
      time: when(d.createdAt, locale),
    })),
  );
  return { sessions, grants, factors, passkeys, signIns: await signInsView(s, userId, locale, RECENT), decisions };
}

/** GET /admin/users/:id */
export async function showUser(s: Services, ctx: Context): Promise<void> {
  const id = String(ctx.params.id ?? '');
  const admin = await adminForPage(s, ctx, /^[\w-]{1,100}$/.test(id) ? `/admin/users/${id}` : '/admin/users');
  if (!admin) return;
  const user = await pathAccount(s, ctx);
  const locale = pageLocale(s, ctx);
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-user', locale, {
    title: 'admin.user.title',
    section: 'users',
    csrf: adminCsrf(s, admin),
    user: {
      id: user.id,
      email: user.email,
      emailVerified: user.emailVerified,
      phone: user.phoneNumber,
      phoneVerified: user.phoneVerified,
      name: user.name,
      created: when(user.createdAt, locale),
      blocked: user.blockedAt ? when(user.blockedAt, locale) : null,
    },
    self: user.id === admin.userId,
    ...(await accountView(s, user.id, locale)),
    notice: notice(ctx),
  });
}
