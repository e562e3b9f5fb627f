// `mfa_otp` (issue 18 item 6): Auth0's MFA API at load (PROTOCOLS-NEXT A). Before the run, each user
// of a pool signs in once through the bench's MFA app (its mfa_policy is `always`) with an email code
// (the passwordless OTP grant), is told mfa_required with `enroll`, adds an authenticator app through
// POST /mfa/associate and confirms it with its first code (the mfa-otp grant); then gets a new email
// code for the measured sign-in. Measured: a sign-in of one such user as an app makes it, the
// password-less first factor (403 mfa_required, `challenge`) then the mfa-otp grant with the app's
// code (200 with tokens). Each user signs in once: a code of each 30-second step is accepted once.
import { Secret, TOTP } from 'otpauth';
import { addressPrefix, askCode, inParallel } from './flows.js';
import { DRY, loop, type Attempt, type Load } from './loop.js';
import type { BenchMail } from './mail.js';
import { MFA_CLIENT, MFA_OTP_GRANT, OTP_GRANT, type Target } from './targets.js';

export const MFA = 'mfa_otp';

export interface MfaUser {
  email: string;
  /** The authenticator app's secret (base32). */
  secret: string;
  /** A fresh email code for the measured sign-in's first factor. */
  code: string;
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

/** A grant at the token endpoint from the MFA app (client_secret_post, as auth-js sends them). */
const grant = (target: Target, params: Record<string, string>) =>
  call(
    target,
    '/oauth/token',
    { 'content-type': 'application/x-www-form-urlencoded' },
    new URLSearchParams({ client_id: MFA_CLIENT.client_id, client_secret: MFA_CLIENT.client_secret, ...params }).toString(),
  );

/** The password-less first factor: the OTP grant with an email code. */
const firstFactor = (target: Target, email: string, otp: string) => grant(target, { grant_type: OTP_GRANT, username: email, otp, realm: 'email', scope: 'openid' });
const secondFactor = (target: Target, mfaToken: string, otp: string) => grant(target, { grant_type: MFA_OTP_GRANT, mfa_token: mfaToken, otp });

const unexpected = (step: string, a: Answer) => new Error(`${step} answered ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);

/** Why a first factor did not end in mfa_required with `kind` (null when it did). */
function mfaRequired(a: Answer, kind: 'enroll' | 'challenge'): string | null {
  const requirements = a.body.mfa_requirements as Record<string, unknown> | undefined;
  return a.status === 403 && a.body.error === 'mfa_required' && typeof a.body.mfa_token === 'string' && requirements?.[kind] ? null : `expected mfa_required to ${kind}`;
}

/** `size` users with a confirmed authenticator app and a fresh email code each, `parallel` at a time. */
export async function enrolMfaUsers(target: Target, size: number, mail: BenchMail, parallel = 16): Promise<MfaUser[]> {
  const prefix = addressPrefix('mfa', target);
  const enrolled = await inParallel(size, parallel, async (n) => {
    const email = `${prefix}-${n}@bench.test`;
    const first = await firstFactor(target, email, await askCode(target, email, mail, MFA_CLIENT));
    if (mfaRequired(first, 'enroll')) throw unexpected('the first sign-in', first);
    const mfaToken = first.body.mfa_token as string;
    const app = await call(target, '/mfa/associate', { authorization: `Bearer ${mfaToken}`, 'content-type': 'application/json' }, JSON.stringify({ authenticator_types: ['otp'] }));
    if (app.status !== 200 || typeof app.body.secret !== 'string') throw unexpected('POST /mfa/associate', app);
    const confirmed = await secondFactor(target, mfaToken, appCode(app.body.secret));
    if (confirmed.status !== 200) throw unexpected('the mfa-otp grant confirming the app', confirmed);
    return { email, secret: app.body.secret };
  });
  // The bench's Sesame lets an address have a new code a second after the last (codes.resendCooldown).
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return inParallel(enrolled.length, 32, async (n) => ({ ...enrolled[n]!, code: await askCode(target, enrolled[n]!.email, mail, MFA_CLIENT) }));
}

/** `concurrency` people signing in with their two factors for `seconds`, each user once; latencies are whole sign-ins. */
export function mfaLoop(target: Target, users: MfaUser[], concurrency: number, seconds: number): Promise<Load> {
  return loop(concurrency, seconds, async (): Promise<Attempt | typeof DRY> => {
    const user = users.shift();
    if (!user) return DRY;
    const t0 = performance.now();
    const first = await firstFactor(target, user.email, user.code);
    const why = mfaRequired(first, 'challenge');
    if (why) return { refused: first.status, failure: `${why}: ${JSON.stringify(first.body).slice(0, 300)}` };
    const second = await secondFactor(target, first.body.mfa_token as string, appCode(user.secret, true));
    if (second.status !== 200 || typeof second.body.access_token !== 'string')
      return { refused: second.status, failure: `mfa-otp grant: ${JSON.stringify(second.body).slice(0, 300)}` };
    return { status: second.status, ms: performance.now() - t0 };
  });
}
