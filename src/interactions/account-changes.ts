// What every change on the account page goes through: the per-user limit (PASSKEY_CHANGES_PER_USER:
// a taken-over session must not plant or strip many passkeys at once), the audit row, and the
// confirmation email (passwordless/account-notices.ts) so the owner hears of it.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { check } from '../risk/check.js';
import { PASSKEY_CHANGES_PER_USER } from '../risk/limits.js';
import { recordAudit } from '../storage/audit.js';
import { SesameError } from '../errors.js';
import { describeBrowser } from '../http/user-agent.js';
import { notifyAccountChange, type AccountChangeKind } from '../passwordless/account-notices.js';
import type { AccountSession } from './account-session.js';

/** Counts one change of this user; a 429 with Retry-After past the ceiling. */
export async function limitChange(s: Pick<Services, 'db'>, session: AccountSession): Promise<void> {
  const decision = await check(s.db, PASSKEY_CHANGES_PER_USER, [session.userId], undefined);
  if (decision.kind === 'allow') return;
  await recordAudit(s.db, { type: 'account.change_limited', userId: session.userId, reason: decision.limit });
  throw new SesameError('tooManyRequests', { retryAfter: decision.retryAfter, detail: 'Too many changes to this account. Try again later.' });
}

/** Audits a change (`account.<kind>`) and emails its confirmation in the page's language. */
export async function confirmChange(s: Services, ctx: Context, session: AccountSession, kind: AccountChangeKind, detail: string | null, locale: string): Promise<void> {
  const userAgent = ctx.get('user-agent').slice(0, 300);
  await recordAudit(s.db, { type: `account.${kind}`, userId: session.userId, ip: ctx.ip, reason: detail?.slice(0, 200) ?? null, userAgent });
  // A passkey without a name (an unknown authenticator) is "Passkey" in the email, as on the page.
  const shown = detail ?? s.renderer.translate(locale, 'account.passkey.unnamed');
  await notifyAccountChange(s, session.userId, { kind, locale, detail: shown, ip: ctx.ip, browser: describeBrowser(userAgent) });
}
