// How a channel says a message was not sent: a DeliveryError, `permanent` when retrying cannot help
// (the worker then gives the message up at once). Every channel throws these and nothing else.

export interface DeliveryErrorDetails {
  /** The provider's HTTP status, when it answered. */
  status?: number;
  /** The provider refused the number itself (Twilio's invalid-recipient codes). */
  invalidRecipient?: boolean;
  /** The provider's own error code (Twilio's). */
  providerCode?: number;
}

export class DeliveryError extends Error {
  override name = 'DeliveryError';
  readonly status?: number;
  readonly invalidRecipient?: boolean;
  readonly providerCode?: number;

  constructor(
    /** One line, safe to store and log: never the message text or a credential. */
    message: string,
    readonly permanent: boolean,
    details: DeliveryErrorDetails = {},
  ) {
    super(message);
    Object.assign(this, details);
  }
}

/** Other 4xx (malformed request, bad sender) will not get better by retrying; 408 and 429 will. */
export function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}
