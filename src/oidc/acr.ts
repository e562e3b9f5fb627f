// How a user signed in, as ID tokens say it: `acr` names what was proven (one Sesame URN per
// channel: an inbox, a phone, an external login service) and `amr` how (RFC 8176 values where one
// fits). Every way in that issues ID tokens takes its values from here, so one method reads the
// same whether it came through the hosted pages, a magic link, a grant or an external connection.
// Also: which methods the hosted pages offer for a request's `acr_values` / essential `acr` claim.
import { externalConnections, smsConnections, type Connection } from '../config/connections.js';
import { relyingParty } from '../config/passkeys.js';

export const ACR = {
  email: 'urn:sesame:acr:email',
  sms: 'urn:sesame:acr:sms',
  external: 'urn:sesame:acr:external',
  /** A passkey: possession of a device key plus user verification, phishing-resistant; ranks above the others. */
  passkey: 'urn:sesame:acr:passkey',
} as const;

export type Method = keyof typeof ACR;

/**
 * A sign-in with a second factor (or a passkey where MFA was asked for): the value Auth0 and the
 * OpenID PAPE policies use, so RPs written for either read it. Not a method: any way in may lead to it.
 */
export const MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
export const ACR_VALUES: string[] = [...Object.values(ACR), MFA_ACR];

/**
 * amr per way in. A code and a link in one email prove the same inbox, so they share the email
 * acr; amr tells them apart (`otp` for a typed code). `email` and `ext` are Sesame's own values
 * (RFC 8176 has none for an inbox or a federated login).
 */
export const AMR = {
  emailCode: ['email', 'otp'],
  emailLink: ['email'],
  smsCode: ['sms', 'otp'],
  external: ['ext'],
  /** A passkey bound to one device (`hwk`) or synced between devices (`swk`), with user verification. */
  passkeyDevice: ['hwk', 'user'],
  passkeySynced: ['swk', 'user'],
} as const;

/**
 * amr each second factor adds (with `mfa`): RFC 8176 values where one fits (`otp` for an
 * authenticator app, `sms`, a passkey's `hwk`/`swk` + `user`), `email` as for the first factor, and
 * Sesame's own `rc` for a recovery code.
 */
export const FACTOR_AMR = {
  totp: ['otp'],
  sms: ['sms', 'otp'],
  email: ['email', 'otp'],
  'recovery-code': ['rc'],
} as const;

/** The amr of a sign-in completed by a second factor: every method used, once each, then `mfa`. */
export function withSecondFactor(first: readonly string[], factor: readonly string[]): string[] {
  return [...new Set([...first.filter((v) => v !== 'mfa'), ...factor, 'mfa'])];
}

/** The amr of a passkey sign-in: a synced (backed-up) passkey's key lives in software. */
export function passkeyAmr(backedUp: boolean): string[] {
  return [...(backedUp ? AMR.passkeySynced : AMR.passkeyDevice)];
}

/** The amr of a one-time code sent by text (`phone`) or by email. */
export function codeAmr(phone: boolean): string[] {
  return [...(phone ? AMR.smsCode : AMR.emailCode)];
}

/** The acr an amr stands for (login tickets store amr only). */
export function acrOf(amr: readonly string[]): string {
  if (amr.includes('mfa')) return MFA_ACR;
  if (amr.includes('sms')) return ACR.sms;
  if (amr.includes('ext')) return ACR.external;
  if (amr.includes('hwk') || amr.includes('swk')) return ACR.passkey;
  return ACR.email;
}

/** oidc-provider's login result for the hosted pages: account, amr and the acr they mean. */
export function loginResult(accountId: string, amr: readonly string[]) {
  return { accountId, amr: [...amr], acr: acrOf(amr), remember: true };
}

interface AcrRequest {
  values: string[];
  essential: boolean;
}

/**
 * The acr values a request asks for: an essential `acr` claim (claims parameter) wins over
 * `acr_values`, which wins over a voluntary `acr` claim with values.
 */
export function requestedAcrs(params: Record<string, unknown>): AcrRequest | null {
  const claim = idTokenAcrClaim(params.claims);
  const values = Array.isArray(claim?.values) ? claim.values : typeof claim?.value === 'string' ? [claim.value] : [];
  const claimed = values.filter((v): v is string => typeof v === 'string');
  if (claimed.length && claim?.essential === true) return { values: claimed, essential: true };
  if (typeof params.acr_values === 'string' && params.acr_values.trim()) return { values: params.acr_values.trim().split(/\s+/), essential: false };
  return claimed.length ? { values: claimed, essential: false } : null;
}

function idTokenAcrClaim(claims: unknown): Record<string, unknown> | undefined {
  if (typeof claims !== 'string') return undefined;
  try {
    const acr = (JSON.parse(claims) as { id_token?: { acr?: unknown } } | null)?.id_token?.acr;
    return acr && typeof acr === 'object' ? (acr as Record<string, unknown>) : undefined;
  } catch {
    // oidc-provider refused bad JSON at the authorization endpoint already.
    return undefined;
  }
}

/** Whether the request asks for MFA (acr_values or the acr claim naming MFA_ACR). */
export function mfaRequested(params: Record<string, unknown>): boolean {
  return requestedAcrs(params)?.values.includes(MFA_ACR) ?? false;
}

/** The methods a configuration has: email always (as the hosted pages), SMS and external when configured, passkeys when they can work. */
export function availableMethods(config: { readonly connections: readonly Connection[] } & Parameters<typeof relyingParty>[0]): Method[] {
  const sms = smsConnections(config).length ? ['sms' as const] : [];
  const external = externalConnections(config).length ? ['external' as const] : [];
  const passkey = relyingParty(config) ? ['passkey' as const] : [];
  return ['email', ...sms, ...external, ...passkey];
}

/**
 * The methods the hosted pages offer: those of `available` whose acr was asked for. When none of
 * the asked ones can be met, every available method (acr_values is voluntary), or `unmet` when
 * the acr claim is essential. A passkey ranks above the others, so it is offered whenever a
 * voluntary acr is met; an essential claim gets it only when it names the passkey acr
 * (oidc-provider would otherwise ask for a sign-in again, its acr not being one of the values).
 */
export function offeredMethods(params: Record<string, unknown>, available: Method[]): Method[] | 'unmet' {
  const asked = requestedAcrs(params);
  // MFA is met after any first factor (the second comes after it), so it narrows nothing by itself.
  const requested = asked && { ...asked, values: asked.values.filter((v) => v !== MFA_ACR) };
  if (!requested || !requested.values.length) return available;
  const matching = available.filter((m) => requested.values.includes(ACR[m]));
  if (!matching.length) return requested.essential ? 'unmet' : available;
  const ranksAbove = !requested.essential && available.includes('passkey') && !matching.includes('passkey');
  return ranksAbove ? [...matching, 'passkey'] : matching;
}
