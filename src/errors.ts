// Every error a request can end with, defined once: status, stable code, the page's message key and
// the JSON description. A base-layer leaf, so any layer may throw by name; http/ renders them.

/**
 * One kind of error. `key` is a message of views/locales (pages, and JSON where no description is
 * given); `description` is the English text JSON answers carry; `expose: false` keeps a thrower's
 * detail out of the answer (it names the operator's mistake, not the client's). A `family` entry
 * takes a reason: its code and key are the prefixes, the reason appended.
 */
export interface ErrorEntry {
  status: number;
  code: string;
  key?: string;
  description?: string;
  expose?: boolean;
  family?: boolean;
}

const UNAUTHORIZED_CLIENT = 'The client may not use this.';

export const ERRORS = {
  // Generic request errors; throwers add the detail that says what was wrong.
  invalidRequest: { status: 400, code: 'invalid_request', description: 'The request is not valid.' },
  badRequest: { status: 400, code: 'bad_request', description: 'The request is not valid.' },
  notFound: { status: 404, code: 'not_found', description: 'Not found.' },
  conflict: { status: 409, code: 'conflict', description: 'The change conflicts with what exists.' },
  tooManyRequests: { status: 429, code: 'too_many_requests', description: 'Too many requests.' },
  csrf: { status: 403, code: 'csrf', key: 'error.csrf' },
  accountBlocked: { status: 403, code: 'account_blocked', description: 'The account is blocked.' },
  adminOnly: { status: 403, code: 'forbidden', key: 'admin.forbidden', description: 'Only admins may use the admin console.' },
  adminNeedsMfa: { status: 403, code: 'mfa_required', key: 'admin.needs_mfa', description: 'The admin console needs a sign-in with a passkey or a second factor.' },
  adminSelf: { status: 403, code: 'self_lockout', key: 'admin.user.self', description: 'Admins cannot block, delete or remove the factors of their own account from the console.' },
  sesameClient: { status: 409, code: 'conflict', key: 'admin.clients.own', description: "Sesame's own clients cannot be changed or removed." },
  reviewSettled: { status: 409, code: 'conflict', key: 'admin.reviews.settled', description: 'This action is no longer waiting for a review.' },
  // Client and caller authentication.
  invalidClient: { status: 401, code: 'invalid_client', description: 'Client authentication failed.' },
  invalidClientMetadata: { status: 400, code: 'invalid_client_metadata', description: 'The client metadata is not valid.' },
  unauthorizedClient: { status: 403, code: 'unauthorized_client', description: UNAUTHORIZED_CLIENT },
  unauthorized: { status: 401, code: 'unauthorized', description: 'Unauthorized.' },
  invalidToken: { status: 401, code: 'invalid_token', description: 'The access token is not valid.' },
  insufficientScope: { status: 403, code: 'insufficient_scope', description: 'The access token lacks the admin scope.' },
  originNotAllowed: { status: 403, code: 'access_denied', description: 'This origin is not allowed for this client.' },
  // The Auth0-style API's own codes.
  auth0BadConnection: { status: 400, code: 'bad.connection', description: 'The connection does not exist or is not enabled.' },
  auth0BadSend: { status: 400, code: 'bad.send', description: 'send must be "link" or "code".' },
  auth0BadPhone: { status: 400, code: 'bad.phone_number', description: 'Please provide a valid phone number in E.164 format, like +14155550100.' },
  auth0BadEmail: { status: 400, code: 'bad.email', description: 'Please provide a valid email address.' },
  auth0WrongCode: { status: 403, code: 'invalid_grant', description: 'Wrong email or verification code.' },
  // A text refused before sending (see SMS_REFUSALS): the same wording on every JSON surface.
  smsCountry: { status: 400, code: 'bad.phone_number', key: 'phone.country', description: 'Codes cannot be sent to phone numbers in this country.' },
  smsNumberType: {
    status: 400,
    code: 'bad.phone_number',
    key: 'phone.type',
    description: 'Codes are sent by text to mobile numbers only; this number is a landline, toll-free, VoIP or other number that is not accepted.',
  },
  smsDisabled: { status: 400, code: 'bad.connection', key: 'phone.disabled', description: 'SMS is not enabled.' },
  // Passkeys: one answer for every failed ceremony (unknown credential, bad signature, wrong user
  // handle, a clone), so a failure never tells whether an account or credential exists.
  passkeyFailed: { status: 400, code: 'invalid_grant', key: 'passkey.failed', description: 'The passkey could not be verified. Try again, or sign in with a code.' },
  passkeyExpired: { status: 400, code: 'invalid_grant', key: 'passkey.expired', description: 'This passkey request expired or was already used. Start again.' },
  passkeysUnavailable: { status: 404, code: 'not_found', key: 'passkey.unavailable', description: 'Passkeys are not enabled.' },
  // Passkey sign-up through the Auth0-style API: the sign-up policy, and an identifier that has an
  // account (a passkey never joins an account it did not sign in to: no pre-hijacking).
  passkeySignUpClosed: { status: 403, code: 'access_denied', description: 'Public signup is disabled: only existing users can sign in.' },
  unknownAudience: { status: 403, code: 'access_denied', description: 'Service not found.' },
  passkeyUserExists: {
    status: 400,
    code: 'user_exists',
    description: 'The user already exists. Sign in with a code sent to this email address or phone number, then add a passkey to the account.',
  },
  // Auth0's MFA API (/mfa/*, the mfa-otp / mfa-oob / mfa-recovery-code grants), in Auth0's words.
  mfaMalformedToken: { status: 403, code: 'invalid_grant', description: 'Malformed mfa_token' },
  mfaExpiredToken: { status: 403, code: 'expired_token', description: 'mfa_token is expired' },
  mfaInvalidOtp: { status: 403, code: 'invalid_grant', description: 'Invalid otp_code.' },
  mfaInvalidBindingCode: { status: 403, code: 'invalid_grant', description: 'Invalid binding_code.' },
  mfaInvalidOobCode: { status: 403, code: 'invalid_grant', description: 'Invalid oob_code.' },
  mfaInvalidRecoveryCode: { status: 403, code: 'invalid_grant', description: 'Invalid recovery_code.' },
  mfaTooManyAttempts: { status: 429, code: 'too_many_attempts', description: 'Too many failed attempts. Wait before trying again.' },
  mfaAssociationRequired: {
    status: 403,
    code: 'association_required',
    description: 'User is not enrolled. You can use /mfa/associate endpoint to enroll the first authenticator.',
  },
  // An mfa_token of a risk CHALLENGE (oidc/grants/risk.ts) takes only the rule's methods.
  mfaFactorNotAllowed: { status: 403, code: 'invalid_grant', description: 'This sign-in does not accept this authenticator: use a type mfa_required listed.' },
  riskSignInDenied: { status: 403, code: 'access_denied', description: 'The sign-in was not allowed.' },
  mfaUnsupportedChallenge: { status: 400, code: 'unsupported_challenge_type', description: 'User does not have an authenticator of the requested type.' },
  mfaAlreadyEnrolled: { status: 403, code: 'access_denied', description: 'User is already enrolled.' },
  mfaEnrolmentNeedsAccessToken: {
    status: 401,
    code: 'invalid_token',
    description: 'An mfa_token enrols only the first authenticator and removes none; use an access token for the MFA API (scope enroll or remove:authenticators).',
  },
  // Authsignal's API (/v1): its words for a bad secret key, and the client API's token errors
  // (@authsignal/browser reacts to `expired_token` by calling the app's onTokenExpired).
  actionsUnauthorized: {
    status: 401,
    code: 'unauthorized',
    description: 'The request is unauthorized. Check that your API key and region base URL are correctly configured.',
  },
  actionsTokenNotSet: { status: 401, code: 'token_not_set', description: 'A token from track is required: Authorization: Bearer <token>.' },
  actionsExpiredToken: { status: 401, code: 'expired_token', description: 'The token has expired. Track the action again for a new one.' },
  actionsInvalidToken: { status: 401, code: 'invalid_token', description: 'The token is not valid.' },
  actionsPasskeyFailed: { status: 400, code: 'invalid_credential', description: 'The passkey could not be verified.' },
  actionsNotChallenging: { status: 400, code: 'invalid_state', description: 'This action is not waiting for a challenge.' },
  actionsMethodNotAllowed: { status: 400, code: 'method_not_allowed', description: "A passkey is not one of the verification methods this action's rule allows." },
  actionsEnrolmentNeedsChallenge: {
    status: 403,
    code: 'forbidden',
    description: 'Adding a passkey needs the token of a passed challenge unless this is the first verification method of an app user.',
  },
  // Hosted pages: sign-in, links, external connections.
  interactionExpired: { status: 400, code: 'interaction_expired', key: 'error.interaction_expired' },
  interactionTimedOut: { status: 400, code: 'interaction_expired', key: 'error.interaction_timed_out' },
  methodNotAllowed: { status: 400, code: 'method_not_allowed', key: 'identifier.method' },
  linkBadRequest: { status: 400, code: 'invalid_request', key: 'link.bad_request' },
  linkPkceRequired: { status: 400, code: 'invalid_request', key: 'link.pkce_required' },
  linkDelayed: { status: 429, code: 'too_many_attempts', key: 'link.delayed' },
  linkFailed: { status: 400, code: 'invalid_grant', key: 'link.failed' },
  linkRefused: { status: 400, code: 'link_', key: 'magic.', family: true },
  linkNumberWrong: { status: 400, code: 'link_number_wrong', key: 'magic.match_ended' },
  unknownConnection: { status: 404, code: 'unknown_connection', key: 'external.unknown_connection' },
  externalRefused: { status: 400, code: 'external_', key: 'external.', family: true },
  // Server side: nothing of the cause reaches the answer.
  misconfigured: { status: 500, code: 'misconfigured', description: 'An internal server error occurred.', expose: false },
  unavailable: { status: 503, code: 'temporarily_unavailable', key: 'error.unavailable', expose: false },
  server: { status: 500, code: 'server_error', key: 'error.server', expose: false },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorName = keyof typeof ERRORS;

/** Why an SMS send was refused before any text went out, as the error every surface answers. */
export const SMS_REFUSALS = { country: 'smsCountry', number_type: 'smsNumberType', disabled: 'smsDisabled' } as const satisfies Record<string, ErrorName>;

export interface ErrorOptions {
  /** What exactly was wrong, in English; shown unless the entry says `expose: false`. */
  detail?: string;
  /** For a `family` entry: appended to its code and key. */
  reason?: string;
  /** Sets Retry-After. */
  retryAfter?: number;
  headers?: Record<string, string>;
  /** Only for an error a library raised with its own status (an unreadable body). */
  status?: number;
}

/** Our typed error: thrown by name, rendered by the handler of the route's format (http/). */
export class SesameError extends Error {
  override name = 'SesameError';
  readonly status: number;
  readonly code: string;
  /** The page's message key, if the entry has one. */
  readonly key: string | undefined;
  /** What JSON answers say when they do not translate `key`. */
  readonly description: string | undefined;
  readonly exposed: boolean;
  readonly headers: Record<string, string>;

  constructor(
    readonly kind: ErrorName,
    options: ErrorOptions = {},
  ) {
    const entry: ErrorEntry = ERRORS[kind];
    const exposed = entry.expose ?? true;
    const key = entry.key === undefined ? undefined : entry.family ? `${entry.key}${options.reason ?? ''}` : entry.key;
    const description = exposed ? (options.detail ?? entry.description) : entry.description;
    // The message is what pages show and logs print: the key, else the English text.
    super(key ?? options.detail ?? entry.description ?? entry.code);
    this.status = options.status ?? entry.status;
    this.code = entry.family ? `${entry.code}${options.reason ?? ''}` : entry.code;
    this.key = key;
    this.description = description;
    this.exposed = exposed;
    this.headers = { ...(options.retryAfter === undefined ? {} : { 'Retry-After': String(options.retryAfter) }), ...options.headers };
  }
}

/** The error for an SMS send refused before sending, or undefined for a limit (the caller words those). */
export function smsRefusal(reason: string): (typeof SMS_REFUSALS)[keyof typeof SMS_REFUSALS] | undefined {
  return Object.hasOwn(SMS_REFUSALS, reason) ? SMS_REFUSALS[reason as keyof typeof SMS_REFUSALS] : undefined;
}
