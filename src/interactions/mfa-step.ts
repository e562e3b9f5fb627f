// The second-factor stop of a hosted sign-in. When the MFA policy (passwordless/mfa/policy.ts)
// asks for a second factor after a verified first one, `finish` does not hand the login to
// oidc-provider: it stores `{ [MFA_PENDING]: { login } }` as the interaction's result (no login of
// its own, so resuming by hand finishes nothing) and sends the browser to `/interaction/<uid>/mfa`.
// The MFA pages read that login (`pendingMfaLogin`), prove a factor, and call `finish` again with
// the amr of both factors (`withSecondFactor`), which then goes on as any sign-in (name step,
// passkey offer, resume). Also here: "remember this browser" (config mfa.rememberBrowserDays).
import { createHmac } from 'node:crypto';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { clientMfaPolicy } from '../oidc/client-metadata.js';
import { mfaRequested } from '../oidc/acr.js';
import { mfaNeed, type MfaNeed } from '../passwordless/mfa/policy.js';
import { challengeNeed, hostedDecision, verdictOf } from '../passwordless/sign-in-risk.js';
import type { ActionDecisionRow } from '../storage/action-decisions.js';

type Details = Awaited<ReturnType<Services['provider']['interactionDetails']>>;

/** The marker a pending second factor leaves as the interaction's result. */
export const MFA_PENDING = 'sesameMfa';

/** The first factor's login that waits for a second one. */
export interface PendingLogin {
  accountId: string;
  amr: string[];
}

export function mfaPath(uid: string): string {
  return `/interaction/${uid}/mfa`;
}

/** The login an interaction holds for its second factor, or null when none waits. */
export function pendingMfaLogin(result: unknown): PendingLogin | null {
  const marker = (result as Record<string, unknown> | undefined)?.[MFA_PENDING] as { login?: { accountId?: unknown; amr?: unknown } } | undefined;
  const login = marker?.login;
  if (typeof login?.accountId !== 'string') return null;
  return { accountId: login.accountId, amr: Array.isArray(login.amr) ? login.amr.filter((a): a is string => typeof a === 'string') : [] };
}

/**
 * What this sign-in needs after its first factor: the client's or the global policy, the request's
 * acr, this browser, and the risk decision (risk-step.ts): while it waits for a CHALLENGE, one of
 * its methods; once it allowed the sign-in, `adaptive` says `allow`.
 */
export async function mfaNeedOf(s: Services, ctx: Context, details: Details, login: PendingLogin, decided?: ActionDecisionRow): Promise<MfaNeed> {
  const clientId = String(details.params.client_id);
  const client = await s.provider.Client.find(clientId);
  // `decided`: the risk decision the request read a moment ago (risk-step.ts), not read again.
  const risk = decided ?? (await hostedDecision(s.db, clientId, details.uid, login.accountId));
  const verdict = risk && verdictOf(risk, s.config.actions.reviewTimeout);
  if (verdict?.kind === 'challenge') return challengeNeed(s.config, s.db, login.accountId, login.amr, verdict.methods);
  return mfaNeed(s.config, s.db, {
    adaptive: verdict?.kind === 'allow' ? 'allow' : undefined,
    userId: login.accountId,
    amr: login.amr,
    clientPolicy: clientMfaPolicy(client?.metadata()),
    requested: mfaRequested(details.params),
    remembered: isRemembered(s, ctx, login.accountId),
  });
}

/**
 * The amr a login finishes with: a passkey sign-in on a request asking for MFA says so (`mfa`, and
 * with it the MFA acr), since a passkey is two factors by itself.
 */
export function amrForRequest(details: Details, amr: readonly string[]): string[] {
  const passkey = amr.includes('hwk') || amr.includes('swk');
  return passkey && mfaRequested(details.params) && !amr.includes('mfa') ? [...amr, 'mfa'] : [...amr];
}

// One cookie per user, named by an HMAC of the user id (a shared device keeps each person's apart
// and the name says nothing of who), signed with the app's keys, holding when it was set.
function rememberCookie(s: Services, userId: string): string {
  return `sesame.mfa-remember.${createHmac('sha256', s.csrfKey).update(`mfa-remember\u0000${userId}`).digest('base64url').slice(0, 16)}`;
}

/** Whether this browser was remembered for `userId` within the configured days (none when 0). */
export function isRemembered(s: Services, ctx: Context, userId: string, now = Date.now()): boolean {
  const days = s.config.mfa.rememberBrowserDays;
  const since = Number(ctx.cookies.get(rememberCookie(s, userId), { signed: true }));
  return days > 0 && Number.isFinite(since) && since > 0 && now - since < days * 86_400_000;
}

/** Remembers this browser for `userId` after a second factor (the page's "remember this browser"). */
export function rememberBrowser(s: Services, ctx: Context, userId: string, now = Date.now()): void {
  const days = s.config.mfa.rememberBrowserDays;
  if (days <= 0) return;
  ctx.cookies.set(rememberCookie(s, userId), String(now), { httpOnly: true, sameSite: 'lax', path: '/interaction', secure: ctx.secure, signed: true, maxAge: days * 86_400_000 });
}
