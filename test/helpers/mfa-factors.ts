// Second factors for tests, enrolled through the domain functions as the enrolment pages would:
// an authenticator app confirmed by a code of two minutes ago (so every current code is unused),
// email or SMS factors confirmed, and the codes an authenticator app shows.
import { Secret, TOTP } from 'otpauth';
import { expect } from 'vitest';
import type { Services } from '../../src/services.js';
import { checkFactorCode } from '../../src/passwordless/mfa/factors.js';
import { enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { enrolOob } from '../../src/passwordless/mfa/oob.js';
import { confirmAuthenticator } from '../../src/storage/mfa.js';

/** The code an authenticator app with `secret` shows now (`offset` steps of 30 s later or earlier). */
export function totpCode(secret: string, offset = 0, now = Date.now()): string {
  return new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: now + offset * 30_000 });
}

export async function confirmedTotp(s: Services, userId: string): Promise<{ authenticatorId: string; secret: string }> {
  const past = new Date(Date.now() - 120_000);
  const { authenticatorId, secret } = await enrolTotp(s, userId, past);
  const code = totpCode(secret, 0, past.getTime());
  expect(await checkFactorCode(s, userId, { type: 'otp', code, confirming: authenticatorId }, { ip: '127.0.0.1' }, past)).toEqual({ ok: true, authenticatorId });
  return { authenticatorId, secret };
}

export async function confirmedOob(s: Services, userId: string, to: { type: 'email'; email: string } | { type: 'sms'; phoneNumber: string }): Promise<string> {
  const factor = await enrolOob(s, userId, to);
  expect(await confirmAuthenticator(s.db, userId, factor.id)).toBe(true);
  return factor.id;
}
