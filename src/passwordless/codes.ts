// One-time codes: issue and verify. Codes are stored as HMAC(key, flow | identifier | code) under a
// rotatable keyring (keyring.ts); verification spends an attempt before comparing, in constant time.
import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { consumeCode, insertCode, spendAttempt, type CodeRow, type NewCode } from '../storage/codes.js';
import type { Keyring } from './keyring.js';

export interface CodePolicy {
  length: number;
  ttl: number;
  maxAttempts: number;
}

export type VerifyResult =
  { ok: true; identifier: string } | { ok: false; reason: 'missing' | 'expired' | 'exhausted' | 'wrong' | 'used'; identifier?: string; attemptsLeft?: number };

function mac(key: string, flowKey: string, identifier: string, code: string): Buffer {
  return createHmac('sha256', key).update(`${flowKey}\u0000${identifier}\u0000${code}`).digest();
}

/** `length` uniform random digits (at most 14: randomInt's range ends at 2^48), in one draw. */
export function generateCode(length: number): string {
  return String(randomInt(10 ** length)).padStart(length, '0');
}

/** Makes a code for `identifier` in `flowKey`, not yet stored: the plaintext (for the message only) and the row to store. */
export function newCode(policy: CodePolicy, keys: Keyring, flowKey: string, identifier: string, now = new Date()): { code: string; expiresAt: Date; row: NewCode } {
  const key = keys.current();
  const code = generateCode(policy.length);
  const expiresAt = new Date(now.getTime() + policy.ttl * 1000);
  return { code, expiresAt, row: { id: randomUUID(), flowKey, identifier, keyId: key.id, codeHash: mac(key.secret, flowKey, identifier, code).toString('base64url'), expiresAt } };
}

/** Creates a code for `identifier` in `flowKey`; returns the plaintext for the message only. */
export async function issueCode(db: Db, policy: CodePolicy, keys: Keyring, flowKey: string, identifier: string, now = new Date()) {
  const { code, expiresAt, row } = newCode(policy, keys, flowKey, identifier, now);
  await insertCode(db, row, now);
  return { code, expiresAt };
}

/** Checks `code` against `row` (the flow's live code); consumes it on success (once, ever) unless `consume` is false. */
export async function verifyCode(db: Db, policy: CodePolicy, keys: Keyring, row: CodeRow, code: string, now = new Date(), consume = true): Promise<VerifyResult> {
  const { identifier, flowKey } = row;
  if (row.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired', identifier };
  if (!(await spendAttempt(db, row.id, policy.maxAttempts))) return { ok: false, reason: 'exhausted', identifier };
  const key = keys.find(row.keyId);
  const normalized = code.replace(/[\s-]/g, '');
  const expected = Buffer.from(row.codeHash, 'base64url');
  const given = key ? mac(key.secret, flowKey, identifier, normalized) : Buffer.alloc(expected.length);
  if (!key || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'wrong', identifier, attemptsLeft: Math.max(0, policy.maxAttempts - row.attempts - 1) };
  }
  if (!consume) return { ok: true, identifier };
  return (await consumeCode(db, row.id, now)) ? { ok: true, identifier } : { ok: false, reason: 'used', identifier };
}
