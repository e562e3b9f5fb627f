// The explicit registry of Sesame's own grants, registered the way oidc-provider registers its
// built-in ones (lib/helpers/initialize_app.js): each handler built once, each accepting `resource`
// (resource indicators are always on). A repeated parameter, `resource` included, is refused with
// invalid_request by oidc-provider before a handler runs.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { CodeCheckDeps } from '../../passwordless/one-time-codes.js';
import type { LoadedConfig } from '../../config/load.js';
import type { Logger } from '../../log.js';
import type { Keyring } from '../../passwordless/keyring.js';
import { providerCall } from '../storage-errors.js';
import * as passwordlessOtp from './passwordless-otp.js';
import * as loginTicket from './login-ticket.js';
import * as webauthn from './webauthn.js';
import * as mfa from './mfa.js';

/** What the grants' handlers are built with (the provider's deps satisfy it). */
export type GrantDeps = CodeCheckDeps & { log: Logger; mfaKeyring: Keyring };

/** One custom grant: the grant type URN(s) it answers, the parameters it reads, and its handler factory. */
export interface GrantModule {
  grantTypes: readonly string[];
  parameters: readonly string[];
  handler(deps: GrantDeps): (ctx: KoaContextWithOIDC) => Promise<void>;
  /** Whether this configuration can run the grant at all (the passkey grant needs a relying party); always when absent. */
  usable?(config: LoadedConfig): boolean;
}

/** Every custom grant; register a subset by passing a filtered copy. */
export const GRANTS: readonly GrantModule[] = [passwordlessOtp, webauthn, mfa, loginTicket];

export function registerGrants(provider: Provider, deps: GrantDeps, grants: readonly GrantModule[] = GRANTS): void {
  for (const grant of grants) {
    // Storage failures inside a grant answer as oidc-provider's 503, like the adapter's.
    const handler = providerCall(grant.handler(deps));
    for (const type of grant.grantTypes) provider.registerGrantType(type, handler, [...grant.parameters, 'resource']);
  }
}
