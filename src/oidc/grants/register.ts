// The explicit registry of Sesame's own grants. Like oidc-provider's built-in grants, each accepts
// `resource` (once) when resource indicators are on.
import type Provider from 'oidc-provider';
import type { CodeCheckDeps } from '../../passwordless/one-time-codes.js';
import * as passwordlessOtp from './passwordless-otp.js';
import * as loginTicket from './login-ticket.js';

export function registerGrants(provider: Provider, deps: CodeCheckDeps): void {
  const apis = new Set(deps.config.apis.map((api) => api.identifier));
  const handler = passwordlessOtp.passwordlessOtpHandler({ ...deps, apis });
  for (const type of passwordlessOtp.grantTypes) {
    provider.registerGrantType(type, handler, [...passwordlessOtp.parameters, 'resource'], ['resource']);
  }
  provider.registerGrantType(loginTicket.grantType, loginTicket.loginTicketHandler(deps), [...loginTicket.parameters, 'resource'], ['resource']);
}
