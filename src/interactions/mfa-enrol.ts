// The enrolment a hosted sign-in goes through when the MFA policy demands a second factor the user
// does not have (mfaNeed says `enroll`): what every enrolment route shares. The routes act only on
// the login the interaction holds for its second factor (`pendingMfaLogin`, set by `finish`), never
// on a form field, and only while the policy still says `enroll` for it.
//
// Once a factor is confirmed, the interaction's result records it (MFA_ENROLLED, still no login of
// its own: resuming by hand finishes nothing). When the user has no recovery codes, a new set is
// made and shown in the response to that confirming POST only: the codes are never stored in the
// clear, so no later request (a reload, Back, another tab) can show them again. A reload of the
// recovery page finds only the marker and offers to continue. The sign-in finishes with both
// factors' amr when the user says they saved the codes (or at once when no codes were made).
import type { Next } from 'koa';
import type { Services } from '../services.js';
import type { FactorType } from '../config/mfa.js';
import { loginResult, withSecondFactor } from '../oidc/acr.js';
import { generateRecoveryCodes, remainingRecoveryCodes } from '../passwordless/mfa/recovery-codes.js';
import { MFA_PENDING, mfaNeedOf, mfaPath, pendingMfaLogin, type PendingLogin } from './mfa-step.js';
import { finish, render, type FlowContext, type FlowState } from './flow-context.js';

/** The marker of a factor confirmed in this interaction: the amr it adds. */
export const MFA_ENROLLED = 'sesameMfaEnrolled';

export type EnrolType = Exclude<FactorType, 'recovery-code'>;

export interface Enrolment {
  login: PendingLogin;
  /** The factor types offered (the policy's `enroll` types); empty once a factor was confirmed. */
  types: EnrolType[];
  /** Set once a factor was confirmed here: the amr it adds. */
  enrolled: string[] | null;
}

export interface EnrolState extends FlowState {
  enrol: Enrolment;
}

export type EnrolContext = FlowContext & { state: EnrolState };

export function enrolPath(uid: string, rest = ''): string {
  return `${mfaPath(uid)}/enrol${rest}`;
}

function enrolledAmr(result: unknown): string[] | null {
  const marker = (result as Record<string, unknown> | undefined)?.[MFA_ENROLLED] as { amr?: unknown } | undefined;
  return Array.isArray(marker?.amr) ? marker.amr.filter((a): a is string => typeof a === 'string') : null;
}

function seeOther(ctx: FlowContext, location: string) {
  ctx.status = 303;
  ctx.redirect(location);
}

/**
 * Loads the enrolment after `loadInteraction`: no held login, back to the sign-in; the policy no
 * longer asking for an enrolment (a factor was added elsewhere), to the challenge.
 */
export function loadEnrolment(s: Services) {
  return async function loadEnrolment(ctx: FlowContext, next: Next) {
    const { details } = ctx.state.step;
    const login = details.prompt.name === 'login' ? pendingMfaLogin(details.result) : null;
    if (!login) return seeOther(ctx, `/interaction/${details.uid}`);
    const enrolled = enrolledAmr(details.result);
    if (!enrolled) {
      const need = await mfaNeedOf(s, ctx, details, login);
      if (need.kind !== 'enroll') return seeOther(ctx, mfaPath(details.uid));
      (ctx.state as EnrolState).enrol = { login, types: need.types, enrolled: null };
    } else {
      (ctx.state as EnrolState).enrol = { login, types: [], enrolled };
    }
    await next();
  };
}

/** Routes that enrol a factor: once one was confirmed here, the recovery page; a type not offered, the choice again with why. */
export function enrolling(s: Services, type: EnrolType | null) {
  return async function enrolling(ctx: EnrolContext, next: Next) {
    const { enrol, step } = ctx.state;
    if (enrol.enrolled) return seeOther(ctx, enrolPath(step.details.uid, '/recovery'));
    if (type && !enrol.types.includes(type)) return showChoice(s, ctx, 'mfaEnrol.not_offered', 400);
    await next();
  };
}

/** The choice of factor types, with what each one is. */
export async function showChoice(s: Services, ctx: EnrolContext, error: string | null = null, status = 200) {
  await render(s, ctx, 'mfa-enrol', { title: 'mfaEnrol.title', types: ctx.state.enrol.types, error }, status);
}

/** Finishes the sign-in with the first factor and the one just enrolled. */
function finishWith(s: Services, ctx: EnrolContext, factorAmr: readonly string[]) {
  const { login } = ctx.state.enrol;
  return finish(s, ctx, { login: loginResult(login.accountId, withSecondFactor(login.amr, factorAmr)) }, false);
}

/**
 * A factor of `userId` was just confirmed in this interaction: records it, and shows new recovery
 * codes (this response only) when the user has none left, else finishes the sign-in.
 */
export async function factorConfirmed(s: Services, ctx: EnrolContext, factorAmr: readonly string[]) {
  const { details } = ctx.state.step;
  const { login } = ctx.state.enrol;
  await s.provider.interactionResult(ctx.req, ctx.res, { [MFA_PENDING]: { login }, [MFA_ENROLLED]: { amr: [...factorAmr] } }, { mergeWithLastSubmission: false });
  const wantsCodes = s.config.mfa.factors.includes('recovery-code') && (await remainingRecoveryCodes(s, login.accountId)) === 0;
  if (!wantsCodes) return finishWith(s, ctx, factorAmr);
  const { codes } = await generateRecoveryCodes(s, login.accountId);
  const download = `data:text/plain;charset=utf-8,${encodeURIComponent(`${s.config.ui.productName}\r\n${codes.join('\r\n')}\r\n`)}`;
  return render(s, ctx, 'mfa-enrol-recovery', { title: 'mfaEnrol.recovery_title', codes, download, uid: details.uid });
}

/** The recovery page again (a reload, Back): the codes are not shown twice; continue from here. */
export async function showRecoveryAgain(s: Services, ctx: EnrolContext, error: string | null = null, status = 200) {
  if (!ctx.state.enrol.enrolled) return seeOther(ctx, enrolPath(ctx.state.step.details.uid));
  await render(s, ctx, 'mfa-enrol-recovery', { title: 'mfaEnrol.recovery_title', codes: null, download: null, error }, status);
}

/** "I have saved these codes": the sign-in goes on with both factors. */
export async function continueAfterCodes(s: Services, ctx: EnrolContext) {
  const { enrolled } = ctx.state.enrol;
  if (!enrolled) return seeOther(ctx, enrolPath(ctx.state.step.details.uid));
  if ((ctx.request.body as Record<string, unknown>).saved !== 'yes') return showRecoveryAgain(s, ctx, 'mfaEnrol.recovery_confirm_required', 400);
  return finishWith(s, ctx, enrolled);
}
