// Every limit Sesame keeps, by name: the counter key it is stored under, its window, its ceiling and
// what it answers. The keys are kept exactly as they were, so live counters survive an upgrade.
// check.ts and replay.ts are the only readers; nothing else builds a counter key.
import { backoffDelay, type Backoff } from '../storage/backoff.js';

/**
 * How a limit counts: `count` hits in a fixed window (refused above `max`), `cooldown` one action per
 * window (a delay), `streak` failures with growing delays, `tally` figures with no decision of their
 * own, `once` a use that may happen only once per window (replays).
 */
export type LimitKind = 'count' | 'cooldown' | 'streak' | 'tally' | 'once';

/** What a refusal or delay is reported as to the user (the `reason` of a limited send or check). */
export type LimitReason = 'cooldown' | 'identifier' | 'ip' | 'client';

export interface Limit<Subject extends unknown[] = string[], Settings = void, Kind extends LimitKind = LimitKind> {
  name: string;
  kind: Kind;
  key(...subject: Subject): string;
  /** Seconds: the window of a count, the wait of a cooldown, how long a streak or a use is kept. */
  window(settings: Settings): number;
  /** The most hits a window allows (`count` limits). */
  max?(settings: Settings): number;
  /** A refused `count` waits for the whole window (default), or only for what is left of it. */
  retry?: 'window' | 'rest of window';
  /** How a `streak` blocks after each failure (see backoffDelay). */
  backoff?(settings: Settings): Backoff;
  reason?: LimitReason;
}

/** The settings the code limits read: config `codes` and `rateLimits`, and a flow's overrides. */
export interface CodeLimitSettings {
  resendCooldown: number;
  /** Sends per (identifier, scope) per hour. */
  sendsPerHour: number;
  /** Sends per identifier per hour from all scopes, beyond which each scope gets only its first. */
  sendsPerIdentifierPerHour: number;
  freeFailures: number;
  maxFailureDelay: number;
  /** Wrong codes per identifier per day from all scopes, beyond which only clean scopes may try. */
  failuresPerIdentifierPerDay: number;
  /** How long a browser that signed in as an identifier is its own scope, in seconds. */
  trustedBrowserTtl: number;
  sendsPerIpPerHour: number;
  verifiesPerIpPerMinute: number;
  /** Separate per-IP bucket (public API clients are counted apart, under their own cap). */
  ipBucket?: string;
  /** Client-wide cap of an API flow, counted only after every narrower limit passed. */
  client?: ClientCap;
}

/** A client's cap: sends per hour, or code checks per minute. */
export interface ClientCap {
  clientId: string;
  max: number;
}

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

type Code = CodeLimitSettings;

function codeBackoff(p: Pick<Code, 'freeFailures' | 'maxFailureDelay'>): Backoff {
  return { free: p.freeFailures, max: p.maxFailureDelay };
}

/** Delay after the n-th failure in a code's streak: none for the first few, then doubling up to the cap. */
export function failureDelay(p: Pick<Code, 'freeFailures' | 'maxFailureDelay'>, failures: number): number {
  return backoffDelay(codeBackoff(p), failures);
}

// Code sends. `scope` is `n:<requester network>` or, for a browser trusted for the identifier, `b:<browser id>`.

/** Does one IP (in its bucket: hosted and API, `public` API clients, `sms`) send too many codes? */
export const SENDS_PER_IP: Limit<[ip: string, bucket: string | undefined], Code> = {
  name: 'sends per IP',
  kind: 'count',
  key: (ip, bucket) => (bucket ? `send-ip-${bucket}:${ip}` : `send-ip:${ip}`),
  window: () => HOUR,
  max: (p) => p.sendsPerIpPerHour,
  reason: 'ip',
};

/** Did this scope send to this identifier a moment ago? (The page's resend countdown reads it.) */
export const RESEND_COOLDOWN: Limit<[identifier: string, scope: string], Code> = {
  name: 'resend cooldown',
  kind: 'cooldown',
  key: (identifier, scope) => `send-cool:${identifier}:${scope}`,
  window: (p) => p.resendCooldown,
  reason: 'cooldown',
};

/** Does one scope send too many codes to one identifier? */
export const SENDS_PER_SCOPE: Limit<[identifier: string, scope: string], Code> = {
  name: 'sends per identifier and scope',
  kind: 'count',
  key: (identifier, scope) => `send-hour:${identifier}:${scope}`,
  window: () => HOUR,
  max: (p) => p.sendsPerHour,
  reason: 'identifier',
};

/** Is one identifier flooded from everywhere? (Past it a scope still gets its first send.) */
export const SENDS_PER_IDENTIFIER: Limit<[identifier: string], Code> = {
  name: 'sends per identifier',
  kind: 'count',
  key: (identifier) => `send-hour:${identifier}`,
  window: () => HOUR,
  max: (p) => p.sendsPerIdentifierPerHour,
  reason: 'identifier',
};

/** Does one API client send too many codes (its `sendsPerClientPerHour`)? */
export const SENDS_PER_CLIENT: Limit<[clientId: string], ClientCap> = {
  name: 'sends per client',
  kind: 'count',
  key: (clientId) => `send-client:${clientId}`,
  window: () => HOUR,
  max: (cap) => cap.max,
  reason: 'client',
};

// Code checks.

/** Does one IP check too many codes? */
export const CHECKS_PER_IP: Limit<[ip: string], Code> = {
  name: 'code checks per IP',
  kind: 'count',
  key: (ip) => `verify-ip:${ip}`,
  window: () => MINUTE,
  max: (p) => p.verifiesPerIpPerMinute,
  reason: 'ip',
};

/** Is this scope guessing codes of this identifier? Growing delays after the free failures; kept a day. */
export const FAILURE_STREAK: Limit<[identifier: string, scope: string], Code> = {
  name: 'failure streak',
  kind: 'streak',
  key: (identifier, scope) => `fail:${identifier}:${scope}`,
  window: () => DAY,
  backoff: codeBackoff,
  reason: 'identifier',
};

/** Has one identifier had too many wrong codes today from everywhere? (Clean scopes may still try.) */
export const FAILURES_PER_IDENTIFIER: Limit<[identifier: string], Code> = {
  name: 'failures per identifier per day',
  kind: 'count',
  key: (identifier) => `fail-day:${identifier}`,
  window: () => DAY,
  max: (p) => p.failuresPerIdentifierPerDay,
  retry: 'rest of window',
  reason: 'identifier',
};

/** Does one API client check too many codes (the OTP grant's `checksPerClientPerMinute`)? */
export const CHECKS_PER_CLIENT: Limit<[clientId: string], ClientCap> = {
  name: 'code checks per client',
  kind: 'count',
  key: (clientId) => `otp-client:${clientId}`,
  window: () => MINUTE,
  max: (cap) => cap.max,
  reason: 'client',
};

/** Did this browser sign in as this identifier lately? Then it is its own scope there. */
export const TRUSTED_BROWSER: Limit<[identifier: string, browser: string], Pick<Code, 'trustedBrowserTtl'>> = {
  name: 'trusted browser',
  kind: 'tally',
  key: (identifier, browser) => `trust:${identifier}:${browser}`,
  window: (p) => p.trustedBrowserTtl,
};

// SMS. `scope` is `country:<ISO code>` or `prefix:<first digits>`.

/** Do too many texts go to one number prefix this hour (the SMS connection's `sendsPerPrefixPerHour`)? */
export const SMS_PER_PREFIX: Limit<[prefix: string], { sendsPerPrefixPerHour: number }> = {
  name: 'SMS per prefix',
  kind: 'count',
  key: (prefix) => `sms-prefix:${prefix}`,
  window: () => HOUR,
  max: (connection) => connection.sendsPerPrefixPerHour,
};

/** How many codes went to a country or prefix today (against SMS_VERIFIED: is it pumping?) */
export const SMS_SENT: Limit<[scope: string]> = {
  name: 'SMS codes sent',
  kind: 'tally',
  key: (scope) => `sms-sent:${scope}`,
  window: () => DAY,
};

/** How many codes sent to a country or prefix were used today. */
export const SMS_VERIFIED: Limit<[scope: string]> = {
  name: 'SMS codes verified',
  kind: 'tally',
  key: (scope) => `sms-ok:${scope}`,
  window: () => DAY,
};

/** While a prefix converts too little: did this requester network have its send this minute? */
export const SMS_SLOWED: Limit<[prefixScope: string, network: string]> = {
  name: 'SMS slowed per prefix and network',
  kind: 'cooldown',
  key: (prefixScope, network) => `sms-slow:${prefixScope}:${network}`,
  window: () => MINUTE,
};

// Replays. A fixed window counted from the first use: a window shrinking towards `exp` would
// forget the first use halfway (a count's window is measured back from each call).

/** Was this client assertion (private_key_jwt, RFC 7523: single use) used before? Kept for its accepted age. */
export const CLIENT_ASSERTION: Limit<[clientId: string, jti: string], { maxAge: number }, 'once'> = {
  name: 'client assertion replay',
  kind: 'once',
  key: (clientId, jti) => `assertion:${clientId}:${jti}`,
  window: (accepted) => accepted.maxAge + 1,
};

/**
 * Was this external connection's assertion (keyed by a hash of its signed part) used before? It is
 * accepted from iat - skew to iat + max age + skew, so a window of that span covers every later use.
 */
export const EXTERNAL_ASSERTION: Limit<[signedHash: string], { maxAge: number; skew: number }, 'once'> = {
  name: 'external assertion replay',
  kind: 'once',
  key: (signedHash) => `external-assertion:${signedHash}`,
  window: (accepted) => accepted.maxAge + 2 * accepted.skew + 1,
};

// Passkeys.

/** Does someone add or remove too many passkeys of one account (a hijacked session planting keys)? */
export const PASSKEY_CHANGES_PER_USER: Limit<[userId: string]> = {
  name: 'passkey changes per user',
  kind: 'count',
  key: (userId) => `passkey-change:${userId}`,
  window: () => HOUR,
  max: () => 10,
  reason: 'identifier',
};

/** Does one IP start too many passkey ceremonies (each stores a challenge)? */
export const PASSKEY_CEREMONIES_PER_IP: Limit<[ip: string]> = {
  name: 'passkey ceremonies per IP',
  kind: 'count',
  key: (ip) => `passkey-ip:${ip}`,
  window: () => MINUTE,
  max: () => 30,
  reason: 'ip',
};

// Risk actions.

/** Does one tenant track too many actions (each stores a decision)? `max` is config actions.tracksPerMinute. */
export const TRACKS_PER_TENANT: Limit<[tenantId: string], { tracksPerMinute: number }> = {
  name: 'tracks per tenant',
  kind: 'count',
  key: (tenantId) => `action-track:${tenantId}`,
  window: () => MINUTE,
  max: (settings) => settings.tracksPerMinute,
  retry: 'rest of window',
  reason: 'client',
};

/**
 * How many wrong codes has the challenge of one tracked action had? The one that reaches `max`
 * (config codes.maxAttempts: one challenge is tried like one code) fails the challenge, as
 * Authsignal's MAX_ATTEMPTS_EXCEEDED. Keyed by the decision, so only guesses made with that action's
 * own token count: nobody else's failures can end someone's action.
 */
export const CHALLENGE_ATTEMPTS: Limit<[decisionId: string], { maxAttempts: number }> = {
  name: 'wrong codes per action challenge',
  kind: 'count',
  key: (decisionId) => `action-tries:${decisionId}`,
  window: () => DAY,
  max: (settings) => settings.maxAttempts,
};
