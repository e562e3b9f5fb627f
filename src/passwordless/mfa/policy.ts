// When a sign-in needs a second factor, and which: the one policy the hosted pages and the Auth0
// MFA API both ask. The policy (global `mfa.policy`, a client's `mfa_policy`, an `acr_values`
// demand) says whether; the user's factors say how. A second factor must be of another kind than
// the first: an email code followed by an email code proves one inbox twice, not two factors.
// A passkey (possession of a device key + user verification) satisfies MFA by itself, while
// `passkey` is one of `mfa.factors`.
import type { FactorType, MfaConfig, MfaPolicy } from '../../config/mfa.js';
import { relyingParty, type PasskeysConfig } from '../../config/passkeys.js';
import { smsConnections, type Connections } from '../../config/connections.js';
import { countPasskeys } from '../../storage/passkeys.js';
import type { Db } from '../../storage/db.js';
import { recordAudit } from '../../storage/audit.js';
import { deleteAuthenticatorKeepingOne } from '../../storage/mfa.js';
import { listFactors, removeFactor, type Factor, type FactorAsker } from './factors.js';

/** What the policy reads of the configuration. */
export interface MfaPolicyConfig extends Connections {
  issuer: string;
  mfa: MfaConfig;
  passkeys: PasskeysConfig;
  ui: { productName: string };
}

/** What a first factor proved, by its amr: an inbox, a phone, an external login, a passkey. */
export type FirstFactorKind = 'email' | 'sms' | 'external' | 'passkey';

export function firstFactorKind(amr: readonly string[]): FirstFactorKind {
  if (amr.includes('hwk') || amr.includes('swk')) return 'passkey';
  if (amr.includes('ext')) return 'external';
  if (amr.includes('sms')) return 'sms';
  return 'email';
}

/** A factor the user can be challenged with now: an enrolled authenticator, or `passkey` (any of theirs). */
export type Challengeable = Factor | { id: 'passkey'; type: 'passkey' };

export type MfaNeed =
  | { kind: 'none' }
  /** The user has factors of another kind than the first: challenge with one (the first listed is the default). */
  | { kind: 'challenge'; factors: Challengeable[] }
  /** The policy demands a factor the user does not have: enrol one of `types` (recovery codes come with the first). */
  | { kind: 'enroll'; types: Exclude<FactorType, 'recovery-code'>[] };

export interface MfaQuestion {
  userId: string;
  /** The first factor's amr. */
  amr: readonly string[];
  /** The client's `mfa_policy` (clientMfaPolicy), when it has one. */
  clientPolicy?: MfaPolicy;
  /** The request asked for MFA (mfaRequested: acr_values or the acr claim). */
  requested?: boolean;
  /**
   * This browser was remembered after a second factor for this user (hosted pages only): it satisfies
   * the policy, not a request that asks for MFA (that asks for a second factor now).
   */
  remembered?: boolean;
  /**
   * The risk decision for an `adaptive` policy: `challenge` demands MFA (as `always`), `allow` lets the
   * sign-in through. Without one (no risk policy decided), `adaptive` acts as `enrolled`.
   */
  adaptive?: 'allow' | 'challenge';
}

/** The policy in force for a client. */
export function effectivePolicy(config: Pick<MfaPolicyConfig, 'mfa'>, clientPolicy?: MfaPolicy): MfaPolicy {
  return clientPolicy ?? config.mfa.policy;
}

/** The kinds of second factor a first factor of `first` can be followed by. */
function otherKind(first: FirstFactorKind, type: FactorType): boolean {
  return !((first === 'email' && type === 'email') || (first === 'sms' && type === 'sms'));
}

/** The factor types this configuration can offer at all (SMS needs a connection, passkeys a relying party). */
export function offeredFactorTypes(config: MfaPolicyConfig): FactorType[] {
  return config.mfa.factors.filter((t) => (t === 'sms' ? smsConnections(config).length > 0 : t === 'passkey' ? relyingParty(config) !== null : true));
}

/**
 * The factors `userId` can be challenged with after a first factor of `amr`: confirmed ones of
 * another kind, of types the configuration offers; recovery codes only while some are left. A
 * passkey counts when the user has one.
 */
export async function challengeableFactors(config: MfaPolicyConfig, db: Db, userId: string, amr: readonly string[]): Promise<Challengeable[]> {
  const first = firstFactorKind(amr);
  const offered = offeredFactorTypes(config);
  const usable = (type: FactorType) => offered.includes(type) && otherKind(first, type);
  const factors: Challengeable[] = (await listFactors({ db }, userId)).filter((f) => f.confirmed && usable(f.type) && (f.type !== 'recovery-code' || (f.remaining ?? 0) > 0));
  if (usable('passkey') && (await countPasskeys(db, userId)) > 0) factors.push({ id: 'passkey', type: 'passkey' });
  // Recovery codes are the way back, never the default.
  return [...factors.filter((f) => f.type !== 'recovery-code'), ...factors.filter((f) => f.type === 'recovery-code')];
}

/**
 * Whether a first factor of `amr` already satisfies MFA: a second factor was used, or it was a
 * passkey (unless the operator took passkeys out of `mfa.factors`).
 */
export function satisfiesMfa(config: Pick<MfaPolicyConfig, 'mfa'>, amr: readonly string[]): boolean {
  return amr.includes('mfa') || (firstFactorKind(amr) === 'passkey' && config.mfa.factors.includes('passkey'));
}

/** Whether this sign-in needs a second factor now, and which. */
export async function mfaNeed(config: MfaPolicyConfig, db: Db, q: MfaQuestion): Promise<MfaNeed> {
  if (satisfiesMfa(config, q.amr) || (q.remembered && !q.requested)) return { kind: 'none' };
  const policy = effectivePolicy(config, q.clientPolicy);
  const demanded = q.requested || policy === 'always' || (policy === 'adaptive' && q.adaptive === 'challenge');
  const whenEnrolled = policy === 'enrolled' || (policy === 'adaptive' && q.adaptive === undefined);
  if (!demanded && !whenEnrolled) return { kind: 'none' };
  const factors = await challengeableFactors(config, db, q.userId, q.amr);
  // Recovery codes alone (an abandoned enrolment, a removed app) are a way back, not an enrolment.
  if (factors.some((f) => f.type !== 'recovery-code')) return { kind: 'challenge', factors };
  if (!demanded) return { kind: 'none' };
  return { kind: 'enroll', types: enrolmentTypes(config, q.amr) };
}

/** The factor types a user who signed in with `amr` may enrol: offered ones of another kind (recovery codes come with the first). */
export function enrolmentTypes(config: MfaPolicyConfig, amr: readonly string[]): Exclude<FactorType, 'recovery-code'>[] {
  const first = firstFactorKind(amr);
  return offeredFactorTypes(config).filter((t): t is Exclude<FactorType, 'recovery-code'> => t !== 'recovery-code' && otherKind(first, t));
}

/**
 * Removes a factor of the user's own (the account page, the MFA API) unless the rule forbids it:
 * 'last_factor' when the global policy is `always` and it is their last confirmed authenticator app,
 * phone or email factor. The global policy decides, not a client's `mfa_policy`: the account is one
 * for every app, and a client demanding `always` still enrols a factor at its next sign-in. Recovery
 * codes and unfinished enrolments may always go (no sign-in rests on them alone), and passkeys are
 * not counted: they have their own section and rules. The check and the removal are one step in
 * storage, so two removals at once cannot both pass it. Audited as `mfa.removed` (as removeFactor).
 * Support (support.ts) is not bound by this rule.
 */
export async function removeOwnFactor(
  config: Pick<MfaPolicyConfig, 'mfa'>,
  db: Db,
  userId: string,
  authenticatorId: string,
  who: FactorAsker,
): Promise<'removed' | 'last_factor' | 'not_found'> {
  if (config.mfa.policy !== 'always') return (await removeFactor({ db }, userId, authenticatorId, who)) ? 'removed' : 'not_found';
  const outcome = await deleteAuthenticatorKeepingOne(db, userId, authenticatorId);
  if (outcome === 'none') return 'not_found';
  if (outcome === 'last') return 'last_factor';
  await recordAudit(db, { type: 'mfa.removed', userId, clientId: who.clientId ?? null, ip: who.ip, reason: authenticatorId.split('|')[0] });
  return 'removed';
}
