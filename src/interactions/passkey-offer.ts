// Whether a fresh code or link sign-in stops at the passkey offer ("Sign in faster next time with a
// passkey") before it goes on, and the "not now" this browser remembers per user. The offer is a
// stop between the verified sign-in and oidc-provider's resume, like the name step: the login
// result is already held by the interaction, so whatever happens on the offer page the sign-in goes
// on with the amr it was verified with (creating a passkey never upgrades it).
import { createHmac } from 'node:crypto';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { relyingParty } from '../config/passkeys.js';
import { offersPasskeys } from '../oidc/client-metadata.js';
import { countPasskeys } from '../storage/passkeys.js';

type Details = Awaited<ReturnType<Services['provider']['interactionDetails']>>;

/** The part of a login result the offer reads. */
export interface FreshLogin {
  accountId: string;
  amr?: string[];
}

/** "Not now" holds on this device for this long. */
export const NOT_NOW_DAYS = 180;

/**
 * The flow for an RP demanding a passkey from a user who has none: `finish` stores
 * `{ [MANDATORY_OFFER]: { next, login } }` as the interaction's result, without a login of its own,
 * so resuming cannot finish the sign-in with the code. The offer is then shown whatever the switches
 * and "not now" say, offers no "Not now", creates the passkey for that `login` (the code just
 * verified in this interaction), and every way out goes to `next`, the interaction's page, where the
 * user signs in with the new passkey.
 */
export const MANDATORY_OFFER = 'sesamePasskeyOffer';

/** The code or link login a mandatory offer creates a passkey for (never a sign-in by itself). */
export function enrolmentLogin(result: unknown): FreshLogin | null {
  const marker = (result as Record<string, unknown> | undefined)?.[MANDATORY_OFFER] as { login?: { accountId?: unknown; amr?: unknown } } | undefined;
  const login = marker?.login;
  if (typeof login?.accountId !== 'string') return null;
  return { accountId: login.accountId, amr: Array.isArray(login.amr) ? login.amr.filter((a): a is string => typeof a === 'string') : [] };
}

export function offerPath(uid: string): string {
  return `/interaction/${uid}/passkey-offer`;
}

/** Where a mandatory offer goes on to, or null for the ordinary offer (a `next` outside this interaction is ignored). */
export function mandatoryNext(uid: string, result: unknown): string | null {
  const marker = (result as Record<string, unknown> | undefined)?.[MANDATORY_OFFER] as { next?: unknown } | undefined;
  const next = marker?.next;
  const here = `/interaction/${uid}`;
  const within = typeof next === 'string' && (next === here || next.startsWith(`${here}/`) || next.startsWith(`${here}?`));
  return within && !next.includes('..') ? next : null;
}

// One cookie per user: a shared device keeps each person's answer apart, and the name tells nothing
// of who (an HMAC of the user id under the server's key). The value is signed with the app's keys.
function notNowCookie(s: Services, userId: string): string {
  return `sesame.passkey-later.${createHmac('sha256', s.csrfKey).update(`passkey-later\u0000${userId}`).digest('base64url').slice(0, 16)}`;
}

export function saidNotNow(s: Services, ctx: Context, userId: string): boolean {
  return ctx.cookies.get(notNowCookie(s, userId), { signed: true }) === '1';
}

export function rememberNotNow(s: Services, ctx: Context, userId: string): void {
  ctx.cookies.set(notNowCookie(s, userId), '1', { httpOnly: true, sameSite: 'lax', path: '/interaction', secure: ctx.secure, signed: true, maxAge: NOT_NOW_DAYS * 86_400_000 });
}

/** A sign-in by an emailed or texted code or link: what the offer follows (not an external login, not a passkey). */
function byCodeOrLink(amr: readonly string[]): boolean {
  return (amr.includes('email') || amr.includes('sms')) && !['ext', 'hwk', 'swk'].some((v) => amr.includes(v));
}

/**
 * Whether this sign-in stops at the offer: passkeys work here, the global switch and the client's
 * `offer_passkeys` are on, a code or link sign-in, a user without a passkey who has not said
 * "not now" in this browser. A mandatory offer needs only passkeys and a user without one.
 */
export async function offersPasskey(s: Services, ctx: Context, details: Details, login: FreshLogin, mandatory = false): Promise<boolean> {
  if (!relyingParty(s.config)) return false;
  if (!mandatory) {
    if (!s.config.passkeys.offerEnrolment || !byCodeOrLink(login.amr ?? [])) return false;
    const client = await s.provider.Client.find(String(details.params.client_id));
    if (!offersPasskeys(client?.metadata()) || saidNotNow(s, ctx, login.accountId)) return false;
  }
  return (await countPasskeys(s.db, login.accountId)) === 0;
}

/**
 * Where the sign-in goes after the name step (or instead of it): the offer when it applies, else
 * `returnTo` (oidc-provider's resume). `result` is the interaction's login result: the one `finish`
 * just handed over, or the one the interaction holds.
 */
export async function afterName(s: Services, ctx: Context, details: Details, result: { login?: FreshLogin }, returnTo: string): Promise<string> {
  if (!result.login) return returnTo;
  const mandatory = mandatoryNext(details.uid, result) !== null;
  return (await offersPasskey(s, ctx, details, result.login, mandatory)) ? offerPath(details.uid) : returnTo;
}
