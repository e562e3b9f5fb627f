// A user's authenticators through the users API (Authsignal's getAuthenticators,
// enrollVerifiedAuthenticator, deleteAuthenticator): the principal's MFA factors and passkeys, the
// same rows Sesame's own MFA and passkey code use. A tenant may enrol an email address or phone
// number it verified itself. A Sesame user is reachable only when it signed in to that tenant's
// client (action-users.ts), and even then every change to its factors is audited and emailed to
// the user, so a tenant (or a stolen tenant key) cannot quietly add a factor to a Sesame account.
import type { VerificationMethod } from '../config/actions.js';
import type { LoadedConfig } from '../config/load.js';
import { SesameError } from '../errors.js';
import { recordAudit } from '../storage/audit.js';
import { insertSoleConfirmed, type AuthenticatorType } from '../storage/mfa.js';
import { deletePasskey, listPasskeys, type PasskeyRow } from '../storage/passkeys.js';
import { notifyAccountChange, type AccountChangeKind, type AccountNoticeDeps } from './account-notices.js';
import { isSesameUser, type TenantAsker } from './action-profiles.js';
import { actionPrincipal } from './action-users.js';
import { authenticatorName } from './authenticator-names.js';
import { normalizeEmail, parsePhone } from './identifiers.js';
import { listFactors, removeFactor, type Factor } from './mfa/factors.js';
import { newAuthenticatorId, type MfaDeps } from './mfa/keys.js';
import { generateRecoveryCodes } from './mfa/recovery-codes.js';

export type ActionAuthenticatorDeps = MfaDeps & Omit<AccountNoticeDeps, 'config'> & { config: LoadedConfig };

const METHOD_OF: Record<AuthenticatorType, VerificationMethod> = { totp: 'AUTHENTICATOR_APP', sms: 'SMS', email: 'EMAIL_OTP', 'recovery-code': 'RECOVERY_CODE' };

/** Authsignal's UserAuthenticator. */
export interface UserAuthenticator {
  userId: string;
  userAuthenticatorId: string;
  verificationMethod: VerificationMethod;
  createdAt: string;
  verifiedAt?: string;
  lastVerifiedAt?: string;
  phoneNumber?: string;
  email?: string;
  webauthnCredential?: {
    credentialId: string;
    name: string;
    aaguid: string;
    aaguidMapping?: { name: string };
    credentialBackedUp: boolean;
    credentialDeviceType: string;
  };
}

function factorView(appUserId: string, f: Factor): UserAuthenticator {
  return {
    userId: appUserId,
    userAuthenticatorId: f.id,
    verificationMethod: METHOD_OF[f.type],
    createdAt: f.createdAt.toISOString(),
    verifiedAt: f.createdAt.toISOString(),
    ...(f.lastUsedAt && { lastVerifiedAt: f.lastUsedAt.toISOString() }),
    ...(f.phoneNumber && { phoneNumber: f.phoneNumber }),
    ...(f.email && { email: f.email }),
  };
}

function passkeyView(appUserId: string, p: PasskeyRow): UserAuthenticator {
  const provider = authenticatorName(p.aaguid);
  return {
    userId: appUserId,
    // A credential id has no `|`, a factor id always has one: the id alone says which table.
    userAuthenticatorId: p.id,
    verificationMethod: 'PASSKEY',
    createdAt: p.createdAt.toISOString(),
    verifiedAt: p.createdAt.toISOString(),
    ...(p.lastUsedAt && { lastVerifiedAt: p.lastUsedAt.toISOString() }),
    webauthnCredential: {
      credentialId: p.id,
      name: p.name ?? provider ?? 'Passkey',
      aaguid: p.aaguid,
      ...(provider && { aaguidMapping: { name: provider } }),
      credentialBackedUp: p.backedUp,
      credentialDeviceType: p.deviceType,
    },
  };
}

/** The user's confirmed factors and passkeys, oldest first; none for a user the tenant cannot reach. */
export async function listActionAuthenticators(deps: Pick<MfaDeps, 'db'>, tenantId: string, appUserId: string): Promise<UserAuthenticator[]> {
  const principalId = await actionPrincipal(deps.db, tenantId, appUserId, { create: false });
  if (!principalId) return [];
  const factors = (await listFactors(deps, principalId)).filter((f) => f.confirmed).map((f) => factorView(appUserId, f));
  const passkeys = (await listPasskeys(deps.db, principalId)).map((p) => passkeyView(appUserId, p));
  return [...factors, ...passkeys].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export interface VerifiedAuthenticatorInput {
  verificationMethod: string;
  email?: unknown;
  phoneNumber?: unknown;
  isDefault?: unknown;
}

/** The factor to store for an enrolment body, or a 400 saying what is wrong. */
function enrolment(config: LoadedConfig, input: VerifiedAuthenticatorInput): { type: 'sms'; phoneNumber: string } | { type: 'email'; email: string } {
  const type = input.verificationMethod === 'SMS' ? 'sms' : input.verificationMethod === 'EMAIL_OTP' ? 'email' : null;
  if (!type) throw new SesameError('invalidRequest', { detail: 'verificationMethod: only SMS and EMAIL_OTP can be enrolled as verified by the server' });
  if (!config.mfa.factors.includes(type)) throw new SesameError('invalidRequest', { detail: `verificationMethod: ${input.verificationMethod} is not enabled (mfa.factors)` });
  if (type === 'sms') {
    const phone = parsePhone(input.phoneNumber);
    if (!phone || phone.e164 !== input.phoneNumber) throw new SesameError('invalidRequest', { detail: 'phoneNumber: a valid phone number in E.164 (+ and digits) is required' });
    return { type, phoneNumber: phone.e164 };
  }
  const email = normalizeEmail(input.email);
  if (!email) throw new SesameError('invalidRequest', { detail: 'email: a valid email address is required' });
  return { type, email };
}

/** Audits a change of a user's factors and, for a Sesame user, emails it to them. */
async function announce(
  deps: ActionAuthenticatorDeps,
  asker: TenantAsker,
  appUserId: string,
  principalId: string,
  change: { type: string; kind: AccountChangeKind; what: string },
) {
  await recordAudit(deps.db, { type: change.type, userId: principalId, clientId: asker.tenantId, ip: asker.ip, reason: `actions_api ${change.what}` });
  if (isSesameUser(asker.tenantId, appUserId, principalId)) {
    await notifyAccountChange(deps, principalId, { kind: change.kind, locale: deps.config.ui.defaultLocale, detail: null, ip: asker.ip });
  }
}

/**
 * enrollVerifiedAuthenticator: an SMS or email factor the tenant verified, confirmed at once; the
 * first factor of a user also gets recovery codes (shown in this answer only), as Authsignal does.
 */
export async function enrolVerifiedAuthenticator(
  deps: ActionAuthenticatorDeps,
  asker: TenantAsker,
  appUserId: string,
  input: VerifiedAuthenticatorInput,
): Promise<{ authenticator: UserAuthenticator; recoveryCodes?: string[] }> {
  const factor = enrolment(deps.config, input);
  const principalId = (await actionPrincipal(deps.db, asker.tenantId, appUserId, { create: true }))!;
  const inserted = await insertSoleConfirmed(deps.db, { id: newAuthenticatorId(factor.type), userId: principalId, ...factor });
  if (!inserted) throw new SesameError('conflict', { detail: `The user already has a ${input.verificationMethod} authenticator; delete it first.` });
  await announce(deps, asker, appUserId, principalId, { type: 'mfa.enrolled', kind: 'mfa_added', what: factor.type });
  const authenticator = factorView(appUserId, inserted.row);
  const recoveryCodes = await firstFactorRecoveryCodes(deps, principalId, inserted.first);
  return recoveryCodes ? { authenticator, recoveryCodes } : { authenticator };
}

/**
 * The recovery codes that come with a user's first factor (Authsignal gives them with the first
 * authenticator, shown once by the caller): none for a later factor or when recovery codes are off.
 * Every door that confirms a factor for the actions API (this server API, the challenge page and
 * the client API) asks here.
 */
export async function firstFactorRecoveryCodes(deps: MfaDeps, userId: string, first: boolean): Promise<string[] | undefined> {
  if (!first || !deps.config.mfa.factors.includes('recovery-code')) return undefined;
  return (await generateRecoveryCodes(deps, userId)).codes;
}

/** deleteAuthenticator: one factor or passkey of the user; false when it has no such one. */
export async function removeActionAuthenticator(deps: ActionAuthenticatorDeps, asker: TenantAsker, appUserId: string, id: string): Promise<boolean> {
  const principalId = await actionPrincipal(deps.db, asker.tenantId, appUserId, { create: false });
  if (!principalId || id.length > 512) return false;
  if (id.includes('|')) {
    if (!(await removeFactor(deps, principalId, id, { ip: asker.ip, clientId: asker.tenantId }))) return false;
    if (isSesameUser(asker.tenantId, appUserId, principalId)) {
      await notifyAccountChange(deps, principalId, { kind: 'mfa_removed', locale: deps.config.ui.defaultLocale, detail: null, ip: asker.ip });
    }
    return true;
  }
  if (!(await deletePasskey(deps.db, principalId, id))) return false;
  await announce(deps, asker, appUserId, principalId, { type: 'passkey.removed', kind: 'passkey_removed', what: 'passkey' });
  return true;
}
