// What second factors need (MfaDeps) and the cryptography under the MFA keys (secrets.mfaKeys, a
// keyring newest first): TOTP secrets sealed with AES-256-GCM, recovery codes MAC'd with HMAC-SHA256.
// Each purpose gets its own key derived from the configured secret (HKDF), so one secret never
// serves two algorithms. A sealed value names its key; old keys keep opening what they sealed.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { LoadedConfig } from '../../config/load.js';
import type { Db } from '../../storage/db.js';
import type { AuthenticatorType } from '../../storage/mfa.js';
import type { Key, Keyring } from '../keyring.js';

/** What the MFA functions need; the composition root's Services fits. */
export interface MfaDeps {
  config: LoadedConfig;
  db: Db;
  /** The MFA keys (secrets.mfaKeys), not the code keys: rotating one set leaves the other alone. */
  mfaKeyring: Keyring;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

function derive(key: Key, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key.secret, '', `sesame mfa ${purpose}`, 32));
}

/**
 * Seals `plaintext` under the current key. `context` (the authenticator id) is authenticated with
 * it, so a sealed secret copied onto another row does not open there.
 */
export function seal(keys: Keyring, plaintext: string, context: string): { keyId: string; sealed: string } {
  const key = keys.current();
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', derive(key, 'seal'), iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyId: key.id, sealed: Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url') };
}

/** Opens what `seal` made; null when its key is no longer configured or the value was tampered with. */
export function unseal(keys: Keyring, keyId: string, sealed: string, context: string): string | null {
  const key = keys.find(keyId);
  const raw = Buffer.from(sealed, 'base64url');
  if (!key || raw.length < IV_BYTES + TAG_BYTES) return null;
  const decipher = createDecipheriv('aes-256-gcm', derive(key, 'seal'), raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(context));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** The MAC a recovery code is stored as, under `key`, bound to its user. */
export function recoveryCodeMac(key: Key, userId: string, code: string): string {
  return createHmac('sha256', derive(key, 'recovery-code')).update(`${userId}\u0000${code}`).digest('base64url');
}

/** A new authenticator id in Auth0's shape, `<type>|dev_<random>`. */
export function newAuthenticatorId(type: Exclude<AuthenticatorType, 'recovery-code'>): string {
  return `${type}|dev_${randomBytes(16).toString('base64url')}`;
}

/**
 * The id of a user's recovery-code authenticator: one per user, derived from the user id so two
 * first generations at once name the same row (storage keeps one). It reveals nothing: user ids are random.
 */
export function recoveryAuthenticatorId(userId: string): string {
  return `recovery-code|dev_${createHash('sha256').update(`recovery-code\u0000${userId}`).digest('base64url').slice(0, 22)}`;
}
