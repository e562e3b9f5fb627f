// The MFA rows (issue 18 item 6): Auth0's MFA API at load (PROTOCOLS-NEXT A), one row per MFA grant.
// Before its rounds, each user of a pool signs in once through the bench's MFA app (its mfa_policy
// is `always`) with a code (the passwordless OTP grant), is told mfa_required with `enroll`, enrols
// its first factor through POST /mfa/associate and confirms it with the matching grant; then gets a
// new code for the measured sign-in. Measured: a sign-in of one such user as an app makes it, the
// password-less first factor (403 mfa_required, `challenge`) then the row's grant (200 with tokens):
// - mfa_otp: an authenticator app; the mfa-otp grant with the app's code.
// - mfa_recovery: the same users' recovery code (answered by the enrolment); the mfa-recovery-code
//   grant, which answers a new one.
// - mfa_oob: an email factor, so the first factor is a text (an email code before an email factor
//   proves one inbox twice, and Sesame refuses it); POST /mfa/challenge sends the binding code, read
//   from the bench's SMTP server, then the mfa-oob grant with the oob_code and it.
// Each user signs in once: a code of each 30-second step is accepted once.
import { Secret, TOTP } from 'otpauth';
import { codeFrom } from '../test/helpers/smtp.js';
import { addressPrefix, askCode, askSmsCode, inParallel } from './flows.js';
import { DRY, loop, type Attempt, type Load } from './loop.js';
import type { BenchMail } from './mail.js';
import { MFA_CLIENT, MFA_OOB_GRANT, MFA_OTP_GRANT, MFA_RECOVERY_GRANT, OTP_GRANT, type Target } from './targets.js';

export const MFA = 'mfa_otp';
export const MFA_ROWS = [MFA, 'mfa_oob', 'mfa_recovery'] as const;
export type MfaRow = (typeof MFA_ROWS)[number];
export const isMfaRow = (s: string): s is MfaRow => (MFA_ROWS as readonly string[]).includes(s);

export interface MfaUser {
  /** The first factor's identifier: an address, or for mfa_oob an E.164 number. */
  username: string;
  /** A fresh code for the measured sign-in's first factor. */
  code: string;
  /** mfa_otp: the authenticator app's secret (base32). mfa_recovery: the recovery code. mfa_oob: the email factor's address. */
  second: string;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * The code the user's app shows now, or (`next`) for the next 30-second step: the enrolment confirms
 * with the current step's, the measured sign-in uses the next one, which is later than the step
 * used at enrolment (each step is accepted once) and still within the server's window of one step.
 */
const appCode = (secret: string, next = false) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + (next ? 30_000 : 0) });

async function call(target: Target, path: string, headers: Record<string, string>, body: string): Promise<Answer> {
  const response = await fetch(new URL(path, target.url), { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

const secret = { client_id: MFA_CLIENT.client_id, client_secret: MFA_CLIENT.client_secret };

/** A grant at the token endpoint from the MFA app (client_secret_post, as auth-js sends them). */
const grant = (target: Target, params: Record<string, string>) =>
  call(target, '/oauth/token', { 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ ...secret, ...params }).toString());

const realmOf = (row: MfaRow) => (row === 'mfa_oob' ? 'sms' : 'email');
/** The password-less first factor: the OTP grant with an email code, or a text's for mfa_oob. */
const firstFactor = (target: Target, row: MfaRow, username: string, otp: string) => grant(target, { grant_type: OTP_GRANT, username, otp, realm: realmOf(row), scope: 'openid' });

const unexpected = (step: string, a: Answer) => new Error(`${step} answered ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);

/** Why a first factor did not end in mfa_required with `kind` (null when it did). */
function mfaRequired(a: Answer, kind: 'enroll' | 'challenge'): string | null {
  const requirements = a.body.mfa_requirements as Record<string, unknown> | undefined;
  return a.status === 403 && a.body.error === 'mfa_required' && typeof a.body.mfa_token === 'string' && requirements?.[kind] ? null : `expected mfa_required to ${kind}`;
}

/** Numbers of mfa_oob's users: French mobiles, a block of a million per server of the run (one gateway serves them all). */
const phoneBlocks = new Map<string, { block: number; next: number }>();
function nextPhone(target: Target): string {
  const b = phoneBlocks.get(target.url) ?? { block: 10 + phoneBlocks.size, next: 0 };
  phoneBlocks.set(target.url, b);
  return `+336${b.block}${String(b.next++).padStart(6, '0')}`;
}

/** A first factor's code for `username` (the row's realm), read from the mail or the text. */
const askFirst = (target: Target, row: MfaRow, username: string, mail: BenchMail) =>
  row === 'mfa_oob' ? askSmsCode(target, username, mail, MFA_CLIENT) : askCode(target, username, mail, MFA_CLIENT);

/** The binding code of the newest mail to `email` (an oob_code's). */
const bindingCode = async (mail: BenchMail, email: string) => codeFrom(await mail.next(email, 30_000));

/** One user through the first sign-in: enrols the row's factor and confirms it; answers its identifier and `second`. */
async function enrol(target: Target, row: MfaRow, username: string, email: string, mail: BenchMail): Promise<Omit<MfaUser, 'code'>> {
  const first = await firstFactor(target, row, username, await askFirst(target, row, username, mail));
  if (mfaRequired(first, 'enroll')) throw unexpected('the first sign-in', first);
  const mfaToken = first.body.mfa_token as string;
  const factor = row === 'mfa_oob' ? { authenticator_types: ['oob'], oob_channels: ['email'], email } : { authenticator_types: ['otp'] };
  const enrolled = await call(target, '/mfa/associate', { authorization: `Bearer ${mfaToken}`, 'content-type': 'application/json' }, JSON.stringify(factor));
  const recovery = (enrolled.body.recovery_codes as string[] | undefined)?.[0];
  if (enrolled.status !== 200 || !recovery) throw unexpected('POST /mfa/associate', enrolled);
  if (row === 'mfa_oob') {
    if (typeof enrolled.body.oob_code !== 'string') throw unexpected('POST /mfa/associate', enrolled);
    const confirmed = await grant(target, { grant_type: MFA_OOB_GRANT, mfa_token: mfaToken, oob_code: enrolled.body.oob_code, binding_code: await bindingCode(mail, email) });
    if (confirmed.status !== 200) throw unexpected('the mfa-oob grant confirming the address', confirmed);
    return { username, second: email };
  }
  if (typeof enrolled.body.secret !== 'string') throw unexpected('POST /mfa/associate', enrolled);
  const confirmed = await grant(target, { grant_type: MFA_OTP_GRANT, mfa_token: mfaToken, otp: appCode(enrolled.body.secret) });
  if (confirmed.status !== 200) throw unexpected('the mfa-otp grant confirming the app', confirmed);
  return { username, second: row === 'mfa_recovery' ? recovery : enrolled.body.secret };
}

/** `size` users enrolled for `row`, with a fresh first-factor code each, `parallel` at a time. */
export async function enrolMfaUsers(target: Target, size: number, mail: BenchMail, row: MfaRow, parallel = 16): Promise<MfaUser[]> {
  const prefix = addressPrefix(row, target);
  const enrolled = await inParallel(size, parallel, (n) => {
    const email = `${prefix}-${n}@bench.test`;
    return enrol(target, row, row === 'mfa_oob' ? nextPhone(target) : email, email, mail);
  });
  // The bench's Sesame lets an identifier have a new code a second after the last (codes.resendCooldown).
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return inParallel(enrolled.length, 32, async (n) => ({ ...enrolled[n]!, code: await askFirst(target, row, enrolled[n]!.username, mail) }));
}

/** The row's second factor for a sign-in that got `mfaToken`: the grant's answer, or why it did not get that far. */
async function secondFactor(target: Target, row: MfaRow, user: MfaUser, mfaToken: string, mail: BenchMail): Promise<Answer> {
  if (row === 'mfa_otp') return grant(target, { grant_type: MFA_OTP_GRANT, mfa_token: mfaToken, otp: appCode(user.second, true) });
  if (row === 'mfa_recovery') return grant(target, { grant_type: MFA_RECOVERY_GRANT, mfa_token: mfaToken, recovery_code: user.second });
  const challenge = await call(target, '/mfa/challenge', { 'content-type': 'application/json' }, JSON.stringify({ ...secret, mfa_token: mfaToken, challenge_type: 'oob' }));
  if (challenge.status !== 200 || typeof challenge.body.oob_code !== 'string') return challenge;
  return grant(target, { grant_type: MFA_OOB_GRANT, mfa_token: mfaToken, oob_code: challenge.body.oob_code, binding_code: await bindingCode(mail, user.second) });
}

/**
 * `concurrency` people signing in with their two factors for `seconds`, each user once; latencies
 * are whole sign-ins. `dry` is called for each person who found the pool empty.
 */
export function mfaLoop(target: Target, row: MfaRow, users: MfaUser[], mail: BenchMail, concurrency: number, seconds: number, dry: () => void): Promise<Load> {
  return loop(concurrency, seconds, async (): Promise<Attempt | typeof DRY> => {
    const user = users.shift();
    if (!user) {
      dry();
      return DRY;
    }
    const t0 = performance.now();
    const first = await firstFactor(target, row, user.username, user.code);
    const why = mfaRequired(first, 'challenge');
    if (why) return { refused: first.status, failure: `${why}: ${JSON.stringify(first.body).slice(0, 300)}` };
    const second = await secondFactor(target, row, user, first.body.mfa_token as string, mail);
    // The recovery-code grant answers the code that replaces the one used.
    const complete = typeof second.body.access_token === 'string' && (row !== 'mfa_recovery' || typeof second.body.recovery_code === 'string');
    if (second.status !== 200 || !complete) return { refused: second.status, failure: `${row} second factor: ${JSON.stringify(second.body).slice(0, 300)}` };
    return { status: second.status, ms: performance.now() - t0 };
  });
}
