// Recovery codes: 10 per user, shown once, each usable once, a new set replacing the old. Written
// `XXXX-XXXX-XXXX` in Crockford's base32 (no I, L, O, U: nothing to misread), 60 random bits each;
// compared normalized (case, spaces and dashes ignored, O read as 0, I and L as 1). Stored only as
// HMACs under the MFA keys, so a copy of the database alone yields none.
// These functions do not count failures: checkFactorCode (factors.ts) puts them behind the limits.
import { randomInt } from 'node:crypto';
import { addRecoveryCode, countRecoveryCodes, replaceRecoveryCodes, useRecoveryCode as useStoredCode } from '../../storage/mfa.js';
import { recoveryAuthenticatorId, recoveryCodeMac, type MfaDeps } from './keys.js';

export const RECOVERY_CODE_COUNT = 10;

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 3;
const GROUP_LENGTH = 4;

/** One new code, as shown: `XXXX-XXXX-XXXX`. */
function newCode(): string {
  const groups: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    let group = '';
    for (let i = 0; i < GROUP_LENGTH; i++) group += ALPHABET[randomInt(ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}

/** The code as compared: 12 characters of the alphabet, or null for anything that cannot be one. */
export function normalizeRecoveryCode(input: string): string | null {
  const code = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  return code.length === GROUPS * GROUP_LENGTH && [...code].every((c) => ALPHABET.includes(c)) ? code : null;
}

/**
 * Makes a new set of recovery codes for `userId`, replacing every earlier one (used or not), and
 * returns them for showing once. The user's recovery-code authenticator is made on the first set.
 */
export async function generateRecoveryCodes(deps: MfaDeps, userId: string, now = new Date()): Promise<{ authenticatorId: string; codes: string[] }> {
  const key = deps.mfaKeyring.current();
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
  const hashes = codes.map((code) => ({ keyId: key.id, codeHash: recoveryCodeMac(key, userId, normalizeRecoveryCode(code)!) }));
  const authenticatorId = recoveryAuthenticatorId(userId);
  await replaceRecoveryCodes(deps.db, userId, authenticatorId, hashes, now);
  return { authenticatorId, codes };
}

/**
 * One new code in place of one just used (Auth0's recovery-code grant answers one `recovery_code`):
 * the set stays at ten, the other codes the user kept stay good. Regenerating the whole set instead
 * would void nine codes the user holds for one they are shown once.
 */
export async function replaceUsedRecoveryCode(deps: MfaDeps, userId: string, now = new Date()): Promise<string> {
  const key = deps.mfaKeyring.current();
  const code = newCode();
  await addRecoveryCode(deps.db, userId, recoveryAuthenticatorId(userId), { keyId: key.id, codeHash: recoveryCodeMac(key, userId, normalizeRecoveryCode(code)!) }, now);
  return code;
}

/** A new set for someone who has one: the same as the first (every earlier code stops working). */
export const regenerateRecoveryCodes = generateRecoveryCodes;

/** Uses one of the user's recovery codes: true once per code, whoever else tries it at the same moment. */
export async function useRecoveryCode(deps: MfaDeps, userId: string, input: string, now = new Date()): Promise<boolean> {
  const code = normalizeRecoveryCode(input);
  if (code === null) return false;
  // Codes carry no key id, so try the MAC under each key still configured (codes outlive a rotation).
  const candidates = deps.mfaKeyring.all().map((key) => ({ keyId: key.id, codeHash: recoveryCodeMac(key, userId, code) }));
  return useStoredCode(deps.db, userId, candidates, now);
}

/** How many of the user's recovery codes are left. */
export function remainingRecoveryCodes(deps: Pick<MfaDeps, 'db'>, userId: string): Promise<number> {
  return countRecoveryCodes(deps.db, userId);
}
