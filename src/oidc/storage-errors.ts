// Storage failures in oidc-provider's terms. Storage's StorageUnavailable carries no HTTP (storage
// knows nothing of it); oidc-provider renders an error by its own fields (statusCode, expose,
// error_description), so every door through which oidc-provider reaches storage (the adapter, the
// account finder, the custom grants) rethrows it here as the 503 temporarily_unavailable it answers.
import { errors } from 'oidc-provider';
import { StorageUnavailable } from '../storage/unavailable.js';

export class ProviderStorageUnavailable extends errors.OIDCProviderError {
  override error_description = 'The service cannot use its database right now. Try again in a minute.';
  // Exposed although a 5xx (oidc-provider hides 5xx as server_error otherwise), and never sent back
  // to the client's redirect_uri: the user sees the page, the client learns nothing of our outage.
  override expose = true;
  override allow_redirect = false;
  readonly reason: string;

  constructor(unavailable: StorageUnavailable) {
    super(503, 'temporarily_unavailable', { cause: unavailable });
    this.reason = unavailable.reason;
  }
}

/** Rethrows a StorageUnavailable as oidc-provider's 503, anything else as it was. */
export function inProviderTerms(err: unknown): never {
  throw err instanceof StorageUnavailable ? new ProviderStorageUnavailable(err) : err;
}

/** `fn` with its storage failures in oidc-provider's terms. */
export function providerCall<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args: A) => fn(...args).catch(inProviderTerms);
}
