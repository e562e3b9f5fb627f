// The explicit registry of Sesame's own grants, registered the way oidc-provider registers its
// built-in ones (lib/helpers/initialize_app.js): each handler built once, each accepting `resource`
// (resource indicators are always on). A repeated parameter, `resource` included, is refused with
// invalid_request by oidc-provider before a handler runs.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { EmailLoginDeps } from '../../passwordless/email-login.js';
import * as passwordlessOtp from './passwordless-otp.js';
import * as loginTicket from './login-ticket.js';

/** One custom grant: the grant type URN(s) it answers, the parameters it reads, and its handler factory. */
export interface GrantModule {
  grantTypes: readonly string[];
  parameters: readonly string[];
  handler(deps: EmailLoginDeps): (ctx: KoaContextWithOIDC) => Promise<void>;
}

/** Every custom grant; register a subset by passing a filtered copy. */
export const GRANTS: readonly GrantModule[] = [passwordlessOtp, loginTicket];

export function registerGrants(provider: Provider, deps: EmailLoginDeps, grants: readonly GrantModule[] = GRANTS): void {
  for (const grant of grants) {
    const handler = grant.handler(deps);
    for (const type of grant.grantTypes) provider.registerGrantType(type, handler, [...grant.parameters, 'resource']);
  }
}
