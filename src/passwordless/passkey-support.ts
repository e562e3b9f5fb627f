// Support's hands on a user's passkeys ("I lost my phone"): find the account by id, email or phone,
// list its passkeys as support reads them, remove one or all, each removal audited with who did it.
// `sesame users passkeys` and the management API share it, so both answer and audit alike. Removal
// touches nothing else: codes, links and sessions keep working, so the user signs in with a code
// and enrols the new device.
import type { Db } from '../storage/db.js';
import { recordAudit } from '../storage/audit.js';
import { deletePasskey, listPasskeys, type PasskeyRow } from '../storage/passkeys.js';
import { findUserByEmail, findUserById, findUserByPhone, type User } from '../storage/users.js';
import { authenticatorName } from './authenticator-names.js';
import { normalizeEmail, parsePhone } from './identifiers.js';

/** One passkey as support sees it: no key material, no counter. */
export interface PasskeySummary {
  id: string;
  /** The name the user gave it (at first the provider's); null when neither is known. */
  name: string | null;
  /** The provider its AAGUID names (iCloud Keychain, Windows Hello...); null when unknown. */
  authenticator: string | null;
  aaguid: string;
  /** Synced between the user's devices (backed up); false: bound to the device that made it. */
  synced: boolean;
  transports: string[];
  createdAt: string;
  lastUsedAt: string | null;
}

/** Who removes passkeys (or acts on an account), for the audit: an operator at the command line, a management API client, or an admin in the console. */
export type Remover = { via: 'cli' } | { via: 'management_api'; clientId: string; ip?: string | null } | { via: 'console'; adminId: string; ip?: string | null };

/** The audit columns naming who acted: a management client and its address, or a console admin's address. */
export function operatorAudit(by: Remover): { clientId: string | null; ip: string | null } {
  return { clientId: by.via === 'management_api' ? by.clientId : null, ip: by.via === 'cli' ? null : (by.ip ?? null) };
}

/** How the audit's reason names who acted: the console admin by id (as reviews do), else the door. */
export function operatorVia(by: Remover): string {
  return by.via === 'console' ? `console by admin:${by.adminId}` : by.via;
}

export function summarizePasskey(row: PasskeyRow): PasskeySummary {
  return {
    id: row.id,
    name: row.name,
    authenticator: authenticatorName(row.aaguid),
    aaguid: row.aaguid,
    synced: row.backedUp,
    transports: row.transports,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

/** A user's passkeys, newest first. */
export async function passkeysOf(db: Db, userId: string): Promise<PasskeySummary[]> {
  return (await listPasskeys(db, userId)).map(summarizePasskey);
}

/**
 * The account a support request names: its id, else its email address, else its phone number (E.164,
 * spaces allowed). Ids are tried first so that no identifier can shadow an account's id.
 */
export async function findUserByReference(db: Db, reference: string): Promise<User | null> {
  const byId = await findUserById(db, reference);
  if (byId) return byId;
  if (reference.includes('@')) {
    const email = normalizeEmail(reference);
    return email ? findUserByEmail(db, email) : null;
  }
  const phone = reference.trim().startsWith('+') ? parsePhone(reference) : null;
  return phone ? findUserByPhone(db, phone.e164) : null;
}

/** Removes one passkey of this user; false (nothing removed) when the user has no passkey with this id. */
export async function removePasskey(db: Db, userId: string, passkeyId: string, by: Remover): Promise<boolean> {
  if (!(await deletePasskey(db, userId, passkeyId))) return false;
  await recordAudit(db, {
    type: 'passkey.removed',
    userId,
    ...operatorAudit(by),
    reason: `${passkeyId} via ${operatorVia(by)}`,
  });
  return true;
}

/**
 * Removes every passkey of this user, one by one so each removal has its own audit row; returns the
 * ids removed. A passkey enrolled while this runs may stay: the answer lists exactly what went.
 */
export async function removeAllPasskeys(db: Db, userId: string, by: Remover): Promise<string[]> {
  const removed: string[] = [];
  for (const { id } of await listPasskeys(db, userId)) {
    if (await removePasskey(db, userId, id, by)) removed.push(id);
  }
  return removed;
}
