// Who is signed in on the admin console (/admin): a first-party OIDC client of Sesame itself (its
// sign-in and signed cookie, scoped to /admin, from first-party-session.ts). Every sign-in asks for
// the MFA acr as an essential claim, so oidc-provider makes a session without it sign in again and
// the hosted pages run their second-factor step (a passkey counts by itself); the callback refuses a
// sign-in whose amr shows neither. Each sign-in is fresh (max_age), and the admin role is read from
// the database on every request, so a revocation counts at the next click.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { ADMIN_CLIENT, type InternalSignIn } from '../oidc/first-party-clients.js';
import { MFA_ACR } from '../oidc/acr.js';
import { isAdmin } from '../storage/users.js';
import { recordAudit } from '../storage/audit.js';
import { SesameError } from '../errors.js';
import { firstPartySession, type PageSession } from './first-party-session.js';

/** How old a sign-in the console takes (max_age); older sessions prove themselves again. */
const FRESH_SECONDS = 15 * 60;

/** A passkey (two factors by itself) or a second factor. */
export function provesTwoFactors(amr: readonly string[]): boolean {
  return amr.includes('mfa') || amr.includes('hwk') || amr.includes('swk');
}

function acceptAdminSignIn(signedIn: InternalSignIn): void {
  if (!provesTwoFactors(signedIn.amr)) throw new SesameError('adminNeedsMfa');
}

const page = firstPartySession({
  client: ADMIN_CLIENT,
  home: '/admin',
  sessionCookie: 'sesame_admin',
  flowCookie: 'sesame_admin_flow',
  returnPaths:
    /^\/admin(\/reviews(\?page=\d{1,6})?|\/audit|\/dashboard(\?range=(hour|day))?|\/outbox(\?older=[\w-]{1,400})?|\/keys|\/users(\/[\w-]{1,100})?|\/clients(\/[\w.~%-]{1,800}(\/delete)?)?)?$/,
  sessionSeconds: 30 * 60,
  freshSeconds: FRESH_SECONDS,
  signInFirst: 'Sign in to the admin console first.',
  authorizeParams: { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [MFA_ACR] } } }) },
  accept: acceptAdminSignIn,
});

/** GET /admin/callback: the sign-in kept; an admin's is audited (admin.signed_in) with their id and how they proved it. */
export async function finishAdminSignIn(s: Pick<Services, 'config' | 'db' | 'provider'>, ctx: Context): Promise<void> {
  const session = await page.finishSignIn(s, ctx);
  if (!(await isAdmin(s.db, session.userId))) return;
  const userAgent = ctx.get('user-agent').slice(0, 300) || null;
  await recordAudit(s.db, { type: 'admin.signed_in', userId: session.userId, clientId: ADMIN_CLIENT.id, ip: ctx.ip, reason: `amr ${session.amr.join(' ')}`, userAgent });
}
export const adminCsrf = page.csrf;
/** For the sign-out POST: a session and its CSRF token only (an admin whose role went may still sign out). */
export const consoleSessionForPost = page.requirePost;
export const forgetConsoleSession = page.forget;

async function mustBeAdmin(s: Pick<Services, 'db'>, session: PageSession): Promise<PageSession> {
  if (!provesTwoFactors(session.amr)) throw new SesameError('adminNeedsMfa');
  if (!(await isAdmin(s.db, session.userId))) throw new SesameError('adminOnly');
  return session;
}

/** For every GET: the signed-in admin, or null after sending the browser to sign in (fresh) and come back to `next`. */
export async function adminForPage(s: Pick<Services, 'db' | 'config'>, ctx: Context, next: string): Promise<PageSession | null> {
  const session = await page.current(s, ctx);
  if (!session) {
    page.sendToSignIn(s, ctx, next, true);
    return null;
  }
  return mustBeAdmin(s, session);
}

/** For every POST: a session (401), its CSRF token (403), and the admin role now (403). */
export async function adminForPost(s: Pick<Services, 'db' | 'csrfKey'>, ctx: Context): Promise<PageSession> {
  return mustBeAdmin(s, await page.requirePost(s, ctx));
}
