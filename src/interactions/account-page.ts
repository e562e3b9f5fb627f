// The account page's view: what /account shows a signed-in user (their name, passkeys, recent
// sign-ins, other sessions), gathered here so the routes stay thin. Every value is text the
// template escapes.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { relyingParty } from '../config/passkeys.js';
import { describeBrowser } from '../http/user-agent.js';
import { authenticatorName } from '../passwordless/authenticator-names.js';
import { MAX_NAME_LENGTH } from '../passwordless/names.js';
import { recentSignIns } from '../storage/audit.js';
import { listSessions } from '../storage/oidc-sessions.js';
import { listPasskeys, type PasskeyRow } from '../storage/passkeys.js';
import { findUserById } from '../storage/users.js';
import { accountCsrf, type AccountSession } from './account-session.js';
import { mfaSection } from './account-mfa-view.js';

/** Notices shown after a change (`?done=`), by the change's name: anything else shows none. */
const DONE = new Set([
  'passkey_added',
  'passkey_removed',
  'passkey_renamed',
  'name_changed',
  'sessions_ended',
  'signed_in_again',
  'mfa_added',
  'mfa_removed',
  'mfa_signed_in_again',
]);
const METHODS = new Set(['email_code', 'sms_code', 'email_link', 'passkey']);

export function pageLocale(s: Pick<Services, 'config'>, ctx: Context): string {
  return negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
}

export function passkeysOn(s: Pick<Services, 'config'>): boolean {
  return relyingParty(s.config) !== null;
}

export function when(date: Date, locale: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(date) + ' UTC';
}

export function passkeyLabel(passkey: Pick<PasskeyRow, 'name' | 'aaguid'>): string | null {
  return passkey.name ?? authenticatorName(passkey.aaguid);
}

function passkeyView(passkey: PasskeyRow, locale: string) {
  return {
    id: passkey.id,
    label: passkeyLabel(passkey),
    created: when(passkey.createdAt, locale),
    lastUsed: passkey.lastUsedAt ? when(passkey.lastUsedAt, locale) : null,
    synced: passkey.backedUp || passkey.deviceType === 'multiDevice',
  };
}

export async function signInsView(s: Pick<Services, 'db'>, userId: string, locale: string, take = 10) {
  return (await recentSignIns(s.db, userId, take)).map((e) => {
    const method = e.type === 'passkey.login' ? 'passkey' : e.type === 'link.used' ? 'email_link' : (e.reason ?? '');
    return {
      when: when(e.createdAt, locale),
      method: METHODS.has(method) ? `account.method.${method}` : 'account.method.other',
      browser: e.userAgent ? describeBrowser(e.userAgent) : null,
      ip: e.ip,
    };
  });
}

export interface PageProblem {
  error?: string | null;
  /** What the user typed into the name field, kept on an error. */
  name?: string;
}

/** Renders /account (status 200, or 400 with `problem.error`). */
export async function showAccountPage(s: Services, ctx: Context, session: AccountSession, problem: PageProblem = {}): Promise<void> {
  const locale = pageLocale(s, ctx);
  const user = await findUserById(s.db, session.userId);
  const passkeys = passkeysOn(s) ? (await listPasskeys(s.db, session.userId)).map((p) => passkeyView(p, locale)) : null;
  const others = (await listSessions(s.db, session.userId)).filter((x) => x.uid !== session.sessionUid).length;
  const done = typeof ctx.query.done === 'string' && DONE.has(ctx.query.done) ? `account.done.${ctx.query.done}` : null;
  ctx.status = problem.error ? 400 : 200;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('account', locale, {
    title: 'account.title',
    csrf: accountCsrf(s, session),
    who: user?.email ?? user?.phoneNumber ?? '',
    name: problem.name ?? user?.name ?? '',
    maxLength: MAX_NAME_LENGTH,
    passkeys,
    mfa: await mfaSection(s, session.userId, (d) => when(d, locale)),
    signIns: await signInsView(s, session.userId, locale),
    otherSessions: others,
    notice: problem.error ? null : done,
    error: problem.error ?? null,
  });
}
