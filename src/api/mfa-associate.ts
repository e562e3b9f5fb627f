// POST /mfa/associate (Auth0's enrolment): an authenticator app (`otp`: the secret and otpauth URI),
// or an email address or phone number (`oob`: a code is sent at once; the mfa-oob grant with it
// confirms). With an mfa_token only the FIRST factor, answered with the recovery codes (shown this
// once); a user who has a factor adds another only with an MFA API access token of scope `enroll`
// (so someone holding just the first factor cannot plant an authenticator of their own). The
// mfa_token of a risk CHALLENGE enrols only a type of the rule's methods.
import type { Context } from 'koa';
import { SesameError } from '../errors.js';
import type { FactorType } from '../config/mfa.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import { listFactors } from '../passwordless/mfa/factors.js';
import { enrolOob } from '../passwordless/mfa/oob.js';
import { mfaNeed, offeredFactorTypes } from '../passwordless/mfa/policy.js';
import { generateRecoveryCodes } from '../passwordless/mfa/recovery-codes.js';
import { enrolTotp } from '../passwordless/mfa/totp.js';
import { allowsFactor, openChallenge } from '../passwordless/sign-in-risk.js';
import { clientMfaPolicy } from '../oidc/client-metadata.js';
import { findUserById } from '../storage/users.js';
import { requireScope, sendOob, type Caller, type MfaApiDeps } from './mfa-callers.js';

type Body = Record<string, unknown>;
type EnrolledType = Exclude<FactorType, 'passkey' | 'recovery-code'>;

/** The factor type an associate body asks for (Auth0's authenticator_types and oob_channels). */
function requestedType(body: Body): EnrolledType {
  const types = body.authenticator_types;
  const channels = Array.isArray(body.oob_channels) ? body.oob_channels : [];
  if (!Array.isArray(types) || types.length !== 1) throw new SesameError('invalidRequest', { detail: 'authenticator_types must name one type: ["otp"] or ["oob"].' });
  if (types[0] === 'otp') return 'totp';
  if (types[0] === 'oob' && channels.length === 1 && (channels[0] === 'sms' || channels[0] === 'email')) return channels[0];
  throw new SesameError('invalidRequest', { detail: 'Supported: authenticator_types ["otp"], or ["oob"] with oob_channels ["sms"] or ["email"].' });
}

/** The types the caller may enrol: with an mfa_token only a first factor (none confirmed yet), of another kind than the first; `type` refused outright when a risk CHALLENGE does not take it. */
async function enrollable(s: MfaApiDeps, who: Caller, type: EnrolledType): Promise<FactorType[]> {
  if (who.via === 'access_token') {
    requireScope(who, 'enroll');
    return offeredFactorTypes(s.config);
  }
  const factors = await listFactors(s, who.userId);
  const policy = clientMfaPolicy(who.client.metadata());
  const need = await mfaNeed(s.config, s.db, { userId: who.userId, amr: who.signIn.amr, clientPolicy: policy, requested: true });
  if (need.kind !== 'enroll' || factors.some((f) => f.confirmed && f.type !== 'recovery-code')) throw new SesameError('mfaEnrolmentNeedsAccessToken');
  if (!who.signIn.riskDecisionId) return need.types;
  // A risk CHALLENGE's token enrols only a type of the rule's methods, and only while it waits.
  const methods = await openChallenge(s.db, who.signIn.riskDecisionId);
  if (!methods) throw new SesameError('riskSignInDenied');
  if (need.types.includes(type) && !allowsFactor(methods, type)) throw new SesameError('mfaFactorNotAllowed');
  return need.types;
}

/** Auth0 says "already enrolled" where the factor modules answer a conflict. */
function alreadyEnrolled(err: unknown): never {
  throw err instanceof SesameError && err.kind === 'conflict' ? new SesameError('mfaAlreadyEnrolled') : err;
}

async function oobAddress(s: MfaApiDeps, who: Caller, type: 'sms' | 'email', body: Body) {
  if (type === 'sms') {
    const phone = parsePhone(body.phone_number);
    if (!phone) throw new SesameError('auth0BadPhone');
    return { type, phoneNumber: phone.e164 } as const;
  }
  // Auth0 defaults to the user's own address.
  const email = normalizeEmail(body.email ?? (await findUserById(s.db, who.userId))?.email);
  if (!email) throw new SesameError('auth0BadEmail');
  return { type, email } as const;
}

export async function associate(s: MfaApiDeps, ctx: Context, who: Caller): Promise<void> {
  const body = (ctx.request.body ?? {}) as Body;
  const type = requestedType(body);
  if (!(await enrollable(s, who, type)).includes(type)) throw new SesameError('invalidRequest', { detail: 'This authenticator type cannot be enrolled here.' });
  const first = who.via === 'mfa_token';
  // Made with the first factor (Auth0 answers them here); an abandoned enrolment leaves them, and the next first enrolment replaces them.
  const recoveryCodes = async () => (first && s.config.mfa.factors.includes('recovery-code') ? { recovery_codes: (await generateRecoveryCodes(s, who.userId)).codes } : {});
  if (type === 'totp') {
    const enrolment = await enrolTotp(s, who.userId).catch(alreadyEnrolled);
    ctx.body = { authenticator_type: 'otp', secret: enrolment.secret, barcode_uri: enrolment.otpauthUri, ...(await recoveryCodes()) };
    return;
  }
  const factor = await enrolOob(s, who.userId, await oobAddress(s, who, type, body)).catch(alreadyEnrolled);
  const oobCode = await sendOob(s, ctx, factor, { userId: who.userId, clientId: who.client.clientId, mfaToken: first ? who.token : null, trusted: false });
  ctx.body = { authenticator_type: 'oob', binding_method: 'prompt', oob_channel: type, oob_code: oobCode, ...(await recoveryCodes()) };
}
