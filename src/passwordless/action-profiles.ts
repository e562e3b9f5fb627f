// A tenant's users as the users API shows them (Authsignal's getUser / updateUser / deleteUser).
// Attributes a tenant sets are its own claims about its user, stored apart from User and keyed by
// the tenant's user id: they never become a Sesame account's email or phone, which Sesame's sign-in
// finds accounts by (a tenant writing a victim's address there would take over their sign-in).
// Deleting a user removes the tenant's view of it; a tenant's own user (`act_…`) also loses its
// authenticators and passkeys, while a Sesame user keeps its account and factors.
import { z } from 'zod';
import { VERIFICATION_METHODS, type VerificationMethod } from '../config/actions.js';
import { SesameError } from '../errors.js';
import { deleteUserDecisions } from '../storage/action-decisions.js';
import { deleteUserProfile, findUserProfile, replaceUserProfile } from '../storage/action-user-profiles.js';
import { recordAudit } from '../storage/audit.js';
import type { Db } from '../storage/db.js';
import { deleteUserAuthenticators } from '../storage/mfa.js';
import { deleteUserPasskeys } from '../storage/passkeys.js';
import { actionPrincipal, tenantUserId } from './action-users.js';
import { methodsOf } from './actions.js';
import { normalizeEmail, parsePhone } from './identifiers.js';

/** Bytes of `custom` JSON a tenant may keep per user. */
const MAX_CUSTOM = 4096;

const text = (max: number) => z.string().min(1).max(max).nullable().optional();

/** What updateUser may set; null removes an attribute. */
export const attributesInput = z.strictObject({
  email: z
    .string()
    .nullable()
    .optional()
    .refine((v) => v == null || normalizeEmail(v) !== null, 'not a valid email address'),
  emailVerified: z.boolean().nullable().optional(),
  phoneNumber: z
    .string()
    .nullable()
    .optional()
    .refine((v) => v == null || parsePhone(v)?.e164 === v, 'not a valid phone number in E.164 (+ and digits)'),
  phoneNumberVerified: z.boolean().nullable().optional(),
  username: text(256),
  displayName: text(256),
  locale: text(35),
  custom: z
    .record(z.string().max(64), z.unknown())
    .nullable()
    .optional()
    .refine((v) => v == null || JSON.stringify(v).length <= MAX_CUSTOM, `larger than ${MAX_CUSTOM} bytes as JSON`),
});

export type UserAttributes = { [K in keyof z.infer<typeof attributesInput>]?: Exclude<z.infer<typeof attributesInput>[K], null> };

/** The user as getUser answers. */
export interface UserView extends UserAttributes {
  isEnrolled: boolean;
  emailVerified: boolean;
  phoneNumberVerified: boolean;
  enrolledVerificationMethods: VerificationMethod[];
  allowedVerificationMethods: VerificationMethod[];
}

/** Who asks: the tenant and the address of its server (for the audit). */
export interface TenantAsker {
  tenantId: string;
  ip: string;
}

/** Whether `principalId` is a Sesame user of its own (shared with Sesame sign-ins), not the tenant's `act_…` user. */
export function isSesameUser(tenantId: string, appUserId: string, principalId: string): boolean {
  return principalId !== tenantUserId(tenantId, appUserId);
}

async function storedAttributes(db: Db, tenantId: string, appUserId: string): Promise<UserAttributes> {
  const json = await findUserProfile(db, tenantId, appUserId);
  return json === null ? {} : (JSON.parse(json) as UserAttributes);
}

/** getUser: the tenant's attributes and the user's verification methods (an unknown user is not enrolled). */
export async function userView(db: Db, tenantId: string, appUserId: string): Promise<UserView> {
  const attributes = await storedAttributes(db, tenantId, appUserId);
  const principalId = await actionPrincipal(db, tenantId, appUserId, { create: false });
  const methods = principalId ? await methodsOf(db, principalId) : [];
  return {
    ...attributes,
    emailVerified: attributes.emailVerified ?? false,
    phoneNumberVerified: attributes.phoneNumberVerified ?? false,
    isEnrolled: methods.length > 0,
    enrolledVerificationMethods: methods,
    allowedVerificationMethods: [...VERIFICATION_METHODS],
  };
}

/** updateUser: merges `input` into the tenant's attributes (null removes one) and returns them all. */
export async function updateAttributes(db: Db, asker: TenantAsker, appUserId: string, input: z.infer<typeof attributesInput>): Promise<UserAttributes> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const stored = await findUserProfile(db, asker.tenantId, appUserId);
    const attributes = merged(stored === null ? {} : (JSON.parse(stored) as UserAttributes), input);
    if (await replaceUserProfile(db, asker.tenantId, appUserId, stored, JSON.stringify(attributes))) {
      await recordAudit(db, { type: 'actions.user.updated', clientId: asker.tenantId, ip: asker.ip, reason: Object.keys(input).join(',').slice(0, 200) });
      return attributes;
    }
  }
  throw new SesameError('conflict', { detail: "The user's attributes are changing too often; try again." });
}

/** `input` over `stored`: null removes an attribute; a new address drops the old one's verified flag unless given again. */
function merged(stored: UserAttributes, input: z.infer<typeof attributesInput>): UserAttributes {
  const attributes: Record<string, unknown> = { ...stored };
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (value === null) delete attributes[key];
    else attributes[key] = key === 'email' ? normalizeEmail(value) : value;
  }
  if (input.email !== undefined && input.emailVerified === undefined) delete attributes.emailVerified;
  if (input.phoneNumber !== undefined && input.phoneNumberVerified === undefined) delete attributes.phoneNumberVerified;
  return attributes as UserAttributes;
}

/**
 * deleteUser: the tenant's attributes and decisions of this user go; a tenant's own user also loses
 * its authenticators and passkeys. A Sesame user's account and factors are never touched.
 */
export async function deleteActionUser(db: Db, asker: TenantAsker, appUserId: string): Promise<void> {
  const principalId = await actionPrincipal(db, asker.tenantId, appUserId, { create: false });
  await deleteUserProfile(db, asker.tenantId, appUserId);
  await deleteUserDecisions(db, asker.tenantId, appUserId);
  const ownUser = principalId !== null && !isSesameUser(asker.tenantId, appUserId, principalId);
  if (ownUser) {
    await deleteUserAuthenticators(db, principalId);
    await deleteUserPasskeys(db, principalId);
  }
  await recordAudit(db, { type: 'actions.user.deleted', clientId: asker.tenantId, userId: principalId, ip: asker.ip, reason: ownUser ? 'tenant_user' : 'tenant_view' });
}

/** A user id from a path, as the SDK sends it (not URL-encoded); a 400 for what cannot be one. */
export function appUserIdOf(raw: string | undefined): string {
  if (!raw || raw.length > 255 || raw.includes('\u0000')) throw new SesameError('invalidRequest', { detail: 'userId: 1 to 255 characters' });
  return raw;
}
