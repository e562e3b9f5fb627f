// What an admin does to an account from the console (/admin/users/:id): block and unblock, end one or
// every session, revoke a grant, remove a second factor or passkey or reset them all ("I lost my
// phone"), export the account as JSON, and erase it after typing its email (or phone, or id) again.
// Each is the operation the CLI and management API share, audited "via console by admin:<id>"; each
// POST proves the admin and the CSRF token first, then answers with a redirect (PRG) and a notice.
// An admin never blocks, erases or strips the factors of their own account here: that locks them out.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { resetFactors, removeFactorFor } from '../passwordless/mfa/support.js';
import { normalizeEmail } from '../passwordless/identifiers.js';
import { removeAllPasskeys, removePasskey, type Remover } from '../passwordless/passkey-support.js';
import { blockUser, endAllUserSessions, endUserSession, eraseUser, exportUser, revokeUserGrant, unblockUser } from '../passwordless/user-accounts.js';
import { recordAudit } from '../storage/audit.js';
import { storable } from '../storage/db.js';
import type { PageSession } from './first-party-session.js';
import { adminCsrf, adminForPage, adminForPost } from './admin-session.js';
import { pageLocale } from './account-page.js';
import { pathAccount } from './admin-users.js';

type Account = Awaited<ReturnType<typeof pathAccount>>;
type Done = 'blocked' | 'unblocked' | 'session_ended' | 'sessions_ended' | 'grant_revoked' | 'factor_removed' | 'passkey_removed' | 'factors_reset';

function byAdmin(admin: PageSession, ctx: Context): Remover {
  return { via: 'console', adminId: admin.userId, ip: ctx.ip };
}

/** The form field naming what to act on (a session, grant, factor or passkey id), else the 404 page. */
function field(ctx: Context, name: string): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string' || value === '' || value.length > 200 || !storable(value)) throw new SesameError('notFound', { detail: `No such ${name}.` });
  return value;
}

function refuseSelf(admin: PageSession, user: Account): void {
  if (user.id === admin.userId) throw new SesameError('adminSelf');
}

function backTo(ctx: Context, user: Account, done: Done): void {
  ctx.status = 303;
  ctx.redirect(`/admin/users/${encodeURIComponent(user.id)}?done=${done}`);
}

/** Every action POST: the admin (session, CSRF, role), then the account (404), then the action. */
async function act(s: Services, ctx: Context, run: (admin: PageSession, user: Account, by: Remover) => Promise<Done>): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const user = await pathAccount(s, ctx);
  backTo(ctx, user, await run(admin, user, byAdmin(admin, ctx)));
}

function missing(what: string): never {
  throw new SesameError('notFound', { detail: `This user has no ${what} with this id.` });
}

export const blockAccount = (s: Services, ctx: Context) =>
  act(s, ctx, async (admin, user, by) => {
    refuseSelf(admin, user);
    await blockUser(s.db, user.id, by);
    return 'blocked';
  });

export const unblockAccount = (s: Services, ctx: Context) =>
  act(s, ctx, async (_admin, user, by) => {
    await unblockUser(s.db, user.id, by);
    return 'unblocked';
  });

/** Another user's session id (or a made-up one) ends nothing: endUserSession matches on both. */
export const endOneSession = (s: Services, ctx: Context) =>
  act(s, ctx, async (_admin, user, by) => {
    if (!(await endUserSession(s.db, user.id, field(ctx, 'session'), by))) missing('live session');
    return 'session_ended';
  });

export const endEverySession = (s: Services, ctx: Context) =>
  act(s, ctx, async (_admin, user, by) => {
    await endAllUserSessions(s.db, user.id, by);
    return 'sessions_ended';
  });

export const revokeOneGrant = (s: Services, ctx: Context) =>
  act(s, ctx, async (_admin, user, by) => {
    if (!(await revokeUserGrant(s.db, user.id, field(ctx, 'grant'), by))) missing('grant');
    return 'grant_revoked';
  });

export const removeOneFactor = (s: Services, ctx: Context) =>
  act(s, ctx, async (admin, user, by) => {
    refuseSelf(admin, user);
    if (!(await removeFactorFor(s.db, user.id, field(ctx, 'factor'), by))) missing('second factor');
    return 'factor_removed';
  });

export const removeOnePasskey = (s: Services, ctx: Context) =>
  act(s, ctx, async (admin, user, by) => {
    refuseSelf(admin, user);
    if (!(await removePasskey(s.db, user.id, field(ctx, 'passkey'), by))) missing('passkey');
    return 'passkey_removed';
  });

/** "I lost my phone": every second factor and passkey goes; the user signs in with a code and enrols again. */
export const resetAllFactors = (s: Services, ctx: Context) =>
  act(s, ctx, async (admin, user, by) => {
    refuseSelf(admin, user);
    await resetFactors(s.db, user.id, by);
    await removeAllPasskeys(s.db, user.id, by);
    return 'factors_reset';
  });

/** GET /admin/users/:id/export: the management API's export, as a download; audited (it is personal data leaving). */
export async function exportAccount(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPage(s, ctx, '/admin/users');
  if (!admin) return;
  const user = await pathAccount(s, ctx);
  const data = await exportUser(s.db, user.id);
  if (!data) throw new SesameError('notFound', { detail: 'No user with this id.' });
  await recordAudit(s.db, { type: 'user.exported', userId: user.id, ip: ctx.ip, reason: `via console by admin:${admin.userId}` });
  ctx.set('Content-Disposition', `attachment; filename="sesame-user-${user.id.replace(/[^\w-]/g, '_')}.json"`);
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(data, null, 2);
}

/** What the admin types to confirm an erasure: the email, else the phone number, else the id. */
function confirmationOf(user: Account): { kind: 'email' | 'phone' | 'id'; value: string } {
  if (user.email) return { kind: 'email', value: user.email };
  if (user.phoneNumber) return { kind: 'phone', value: user.phoneNumber };
  return { kind: 'id', value: user.id };
}

async function deletePage(s: Services, ctx: Context, admin: PageSession, user: Account, error: string | null): Promise<void> {
  const locale = pageLocale(s, ctx);
  const confirm = confirmationOf(user);
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-user-delete', locale, {
    title: 'admin.user.delete.title',
    section: 'users',
    csrf: adminCsrf(s, admin),
    user: { id: user.id, label: user.email ?? user.phoneNumber ?? user.id },
    confirm,
    error,
  });
}

/** GET /admin/users/:id/delete: the confirm step (your own account: refused here already). */
export async function confirmDelete(s: Services, ctx: Context): Promise<void> {
  const id = String(ctx.params.id ?? '');
  const admin = await adminForPage(s, ctx, /^[\w-]{1,100}$/.test(id) ? `/admin/users/${id}` : '/admin/users');
  if (!admin) return;
  const user = await pathAccount(s, ctx);
  refuseSelf(admin, user);
  await deletePage(s, ctx, admin, user, null);
}

/** POST /admin/users/:id/delete: erases only when the typed confirmation matches; else the page again (400). */
export async function deleteAccount(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPost(s, ctx);
  const user = await pathAccount(s, ctx);
  refuseSelf(admin, user);
  const typed = (ctx.request.body as Record<string, unknown> | undefined)?.confirm;
  const expected = confirmationOf(user);
  const given = typeof typed !== 'string' ? null : expected.kind === 'email' ? normalizeEmail(typed) : typed.replace(/\s+/g, '');
  if (given !== expected.value) {
    ctx.status = 400;
    await deletePage(s, ctx, admin, user, 'admin.user.delete.mismatch');
    return;
  }
  if (!(await eraseUser(s.db, user.id, byAdmin(admin, ctx)))) throw new SesameError('notFound', { detail: 'No user with this id.' });
  ctx.status = 303;
  ctx.redirect('/admin/users?done=deleted');
}
