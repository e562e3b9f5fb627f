// Authenticator apps (TOTP, RFC 6238 through `otpauth`): enrolment (secret, otpauth URI, QR code),
// its confirmation by a first code, and verification. A code is accepted in its own 30-second step
// or the one before or after (clock drift), and each step once: storage records the newest step
// used and accepts only later ones (a conditional update, so parallel uses of one code succeed once).
// These functions do not count failures: checkFactorCode (factors.ts) puts them behind the limits.
import { Secret, TOTP } from 'otpauth';
import qrcode from 'qrcode-generator';
import { SesameError } from '../../errors.js';
import { deleteUnconfirmed, findAuthenticator, insertAuthenticator, listAuthenticators, useTotpStep, type AuthenticatorRow } from '../../storage/mfa.js';
import { findUserById } from '../../storage/users.js';
import { newAuthenticatorId, seal, unseal, type MfaDeps } from './keys.js';

/** What authenticator apps expect (Google Authenticator reads nothing else reliably). */
const PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Steps either side of the current one a code may come from. */
const WINDOW = 1;

export interface TotpEnrolment {
  authenticatorId: string;
  /** The secret in base32, for typing into an app (and Auth0's `secret`). */
  secret: string;
  /** `otpauth://totp/...` (Auth0's `barcode_uri`). */
  otpauthUri: string;
  /** The URI as a QR code, an inline SVG (no script, no external resource). */
  qrSvg: string;
}

export type TotpResult = { ok: true; authenticatorId: string } | { ok: false; reason: 'wrong' | 'replayed' | 'not_enrolled' };

/**
 * Starts enrolling an authenticator app for `userId`: an unconfirmed authenticator holding a new
 * sealed secret. Refused (conflict) when the user already has a confirmed one; an unfinished
 * enrolment is replaced. The secret is returned once, here; storage keeps it only sealed.
 */
export async function enrolTotp(deps: MfaDeps, userId: string, now = new Date()): Promise<TotpEnrolment> {
  const user = await findUserById(deps.db, userId);
  if (!user) throw new SesameError('notFound', { detail: 'No such user.' });
  if ((await listAuthenticators(deps.db, userId, { type: 'totp', confirmed: true })).length > 0) {
    throw new SesameError('conflict', { detail: 'User is already enrolled.' });
  }
  await deleteUnconfirmed(deps.db, userId, 'totp');
  const authenticatorId = newAuthenticatorId('totp');
  const secret = new Secret({ size: 20 });
  const { keyId, sealed } = seal(deps.mfaKeyring, secret.base32, authenticatorId);
  await insertAuthenticator(deps.db, { id: authenticatorId, userId, type: 'totp', secretKeyId: keyId, secretSealed: sealed }, now);
  const label = user.email ?? user.phoneNumber ?? user.id;
  const otpauthUri = new TOTP({ ...PARAMETERS, issuer: deps.config.ui.productName, label, secret }).toString();
  return { authenticatorId, secret: secret.base32, otpauthUri, qrSvg: qrSvg(otpauthUri) };
}

/**
 * An unfinished enrolment of `userId` shown again (a wrong first code on the account page): the same
 * secret, so an app that already scanned it keeps working. Null when it is not theirs, not a TOTP
 * enrolment, already confirmed, or its key is gone.
 */
export async function pendingTotpEnrolment(deps: MfaDeps, userId: string, authenticatorId: string): Promise<TotpEnrolment | null> {
  const row = await findAuthenticator(deps.db, userId, authenticatorId);
  const user = row && row.type === 'totp' && !row.confirmed && row.secretKeyId && row.secretSealed ? await findUserById(deps.db, userId) : null;
  const base32 = user ? unseal(deps.mfaKeyring, row!.secretKeyId!, row!.secretSealed!, row!.id) : null;
  if (!user || base32 === null) return null;
  const label = user.email ?? user.phoneNumber ?? user.id;
  const otpauthUri = new TOTP({ ...PARAMETERS, issuer: deps.config.ui.productName, label, secret: Secret.fromBase32(base32) }).toString();
  return { authenticatorId, secret: base32, otpauthUri, qrSvg: qrSvg(otpauthUri) };
}

/** The otpauth URI as a scalable SVG; the page gives it its text alternative (the secret, shown beside it). */
function qrSvg(uri: string): string {
  const qr = qrcode(0, 'M');
  qr.addData(uri);
  qr.make();
  return qr.createSvgTag({ cellSize: 4, margin: 16, scalable: true });
}

/** The time step `code` belongs to for this authenticator's secret, within the window; null when none. */
function stepOf(deps: MfaDeps, row: AuthenticatorRow, code: string, now: Date): number | null {
  if (!/^\d{6}$/.test(code) || !row.secretKeyId || !row.secretSealed) return null;
  const base32 = unseal(deps.mfaKeyring, row.secretKeyId, row.secretSealed, row.id);
  if (base32 === null) return null;
  const totp = new TOTP({ ...PARAMETERS, secret: Secret.fromBase32(base32) });
  const delta = totp.validate({ token: code, timestamp: now.getTime(), window: WINDOW });
  return delta === null ? null : totp.counter({ timestamp: now.getTime() }) + delta;
}

/** Codes as people type them: spaces (apps show `123 456`) do not matter. */
function normalize(code: string): string {
  return code.replace(/\s/g, '');
}

/** Finishes enrolling `authenticatorId` with a first code from the app; that code's step is then used. */
export async function confirmTotp(deps: MfaDeps, userId: string, authenticatorId: string, code: string, now = new Date()): Promise<TotpResult> {
  const row = await findAuthenticator(deps.db, userId, authenticatorId);
  if (!row || row.type !== 'totp' || row.confirmed) return { ok: false, reason: 'not_enrolled' };
  const step = stepOf(deps, row, normalize(code), now);
  if (step === null) return { ok: false, reason: 'wrong' };
  return (await useTotpStep(deps.db, row.id, step, true, now)) ? { ok: true, authenticatorId } : { ok: false, reason: 'replayed' };
}

/** Checks a code from the user's authenticator app (any confirmed one); its step is used up. */
export async function verifyTotp(deps: MfaDeps, userId: string, code: string, now = new Date()): Promise<TotpResult> {
  const rows = await listAuthenticators(deps.db, userId, { type: 'totp', confirmed: true });
  if (rows.length === 0) return { ok: false, reason: 'not_enrolled' };
  for (const row of rows) {
    const step = stepOf(deps, row, normalize(code), now);
    if (step === null) continue;
    return (await useTotpStep(deps.db, row.id, step, false, now)) ? { ok: true, authenticatorId: row.id } : { ok: false, reason: 'replayed' };
  }
  return { ok: false, reason: 'wrong' };
}
