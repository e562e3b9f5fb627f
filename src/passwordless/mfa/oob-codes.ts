// Auth0's `oob_code`: the handle of one out-of-band challenge (a code sent to an email or SMS
// factor), which the mfa-oob grant redeems with the code the user received (`binding_code`). It is
// sealed under the MFA keys, so it needs no table and cannot be forged or altered: it names the
// challenge (whose code is keyed `m:<challengeId>`), the factor, the user and client, and, when an
// mfa_token asked for it, that token (only its digest), so it is redeemed with that token alone.
import { randomBytes } from 'node:crypto';
import type { Keyring } from '../keyring.js';
import { seal, unseal } from './keys.js';

export interface OobChallenge {
  challengeId: string;
  authenticatorId: string;
  userId: string;
  clientId: string;
  /** The digest of the mfa_token that asked (mfaTokenDigest), or null for an enrolment by an MFA API access token. */
  mfaToken: string | null;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

const CONTEXT = 'sesame mfa oob_code';

/** A new challenge id (what the code is keyed by). */
export function newChallengeId(): string {
  return randomBytes(16).toString('base64url');
}

export function sealOobCode(keys: Keyring, challenge: OobChallenge): string {
  const { keyId, sealed } = seal(keys, JSON.stringify(challenge), CONTEXT);
  return `${keyId}.${sealed}`;
}

/** The challenge an oob_code stands for; null for anything else, a tampered or an expired one. */
export function openOobCode(keys: Keyring, oobCode: unknown, now = Date.now()): OobChallenge | null {
  if (typeof oobCode !== 'string' || oobCode.length > 2000) return null;
  const dot = oobCode.indexOf('.');
  if (dot < 1) return null;
  const opened = unseal(keys, oobCode.slice(0, dot), oobCode.slice(dot + 1), CONTEXT);
  if (opened === null) return null;
  const challenge = JSON.parse(opened) as OobChallenge;
  return challenge.expiresAt > now ? challenge : null;
}
