// Auth0's mfa_token: what the token endpoint hands a client when a sign-in needs a second factor.
// Opaque and random; stored hashed; bound to the client it was issued to (another client's
// request with it is refused as if it did not exist); valid `mfa.tokenTtl` seconds; good for any
// number of failed attempts (the factor limits count those) and spent by the one that succeeds.
// One handed out for a risk CHALLENGE names its decision (oidc/grants/risk.ts).
import { createHash, randomBytes } from 'node:crypto';
import { findMfaToken, insertMfaToken, spendMfaToken } from '../../storage/mfa-tokens.js';
import type { MfaDeps } from './keys.js';

/** The sign-in an mfa_token stands for. */
export interface PendingSignIn {
  clientId: string;
  userId: string;
  /** The first factor's amr. */
  amr: string[];
  /** The original request's scope and resource (audience): the MFA grants issue for them. */
  scope: string;
  resource?: string;
  /** The risk decision whose CHALLENGE this sign-in answers: only the rule's methods redeem the token. */
  riskDecisionId?: string;
}

export type MfaTokenCheck =
  | { ok: true; signIn: PendingSignIn; expiresAt: Date }
  /** `invalid`: unknown, another client's, or already spent (Auth0 "Malformed mfa_token"); `expired`: past its lifetime. */
  | { ok: false; reason: 'invalid' | 'expired' };

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

/** A new mfa_token for `signIn`. */
export async function issueMfaToken(deps: Pick<MfaDeps, 'config' | 'db'>, signIn: PendingSignIn, now = new Date()): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + deps.config.mfa.tokenTtl * 1000);
  const { clientId, userId, amr, scope, resource, riskDecisionId } = signIn;
  const row = { id: digest(token), clientId, userId, amr: JSON.stringify(amr), scope, resource: resource ?? null, expiresAt, riskDecisionId: riskDecisionId ?? null };
  await insertMfaToken(deps.db, row, now);
  return token;
}

/**
 * The sign-in `token` stands for, when `clientId` may use it now. Does not spend it. `clientId` null:
 * a bearer use that names no client (the MFA API's GET /mfa/authenticators, POST /mfa/associate);
 * the token then answers for the client it was issued to.
 */
export async function readMfaToken(deps: Pick<MfaDeps, 'db'>, token: unknown, clientId: string | null, now = new Date()): Promise<MfaTokenCheck> {
  if (typeof token !== 'string' || token.length < 20 || token.length > 200) return { ok: false, reason: 'invalid' };
  const row = await findMfaToken(deps.db, digest(token));
  if (!row || (clientId !== null && row.clientId !== clientId) || row.usedAt) return { ok: false, reason: 'invalid' };
  if (row.expiresAt <= now) return { ok: false, reason: 'expired' };
  const amr = JSON.parse(row.amr) as string[];
  const signIn: PendingSignIn = { clientId: row.clientId, userId: row.userId, amr, scope: row.scope, ...(row.resource ? { resource: row.resource } : {}) };
  return { ok: true, expiresAt: row.expiresAt, signIn: row.riskDecisionId ? { ...signIn, riskDecisionId: row.riskDecisionId } : signIn };
}

/** Spends `token` after its second factor succeeded: true for exactly one of any parallel grants. */
export function spendMfa(deps: Pick<MfaDeps, 'db'>, token: string, now = new Date()): Promise<boolean> {
  return spendMfaToken(deps.db, digest(token), now);
}

/** What an oob_code binds to instead of the token itself (never stored or shown in the clear). */
export const mfaTokenDigest = digest;
