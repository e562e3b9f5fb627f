// The explicit registry of Sesame's own grants. Like oidc-provider's built-in grants, each accepts
// `resource` (once) when resource indicators are on. A grant of a disabled feature is not registered.
import type Provider from 'oidc-provider';
import type { EmailLoginDeps } from '../../passwordless/email-login.js';
import { grantTypeEnabled } from '../../config/features.js';
import * as passwordlessOtp from './passwordless-otp.js';
import * as loginTicket from './login-ticket.js';

export function registerGrants(provider: Provider, deps: EmailLoginDeps): void {
  const apis = new Set(deps.config.apis.map((api) => api.identifier));
  const handler = passwordlessOtp.passwordlessOtpHandler({ ...deps, apis });
  for (const type of passwordlessOtp.grantTypes.filter((t) => grantTypeEnabled(deps.config, t))) {
    provider.registerGrantType(type, handler, [...passwordlessOtp.parameters, 'resource'], ['resource']);
  }
  if (grantTypeEnabled(deps.config, loginTicket.grantType)) {
    provider.registerGrantType(loginTicket.grantType, loginTicket.loginTicketHandler(deps), [...loginTicket.parameters, 'resource'], ['resource']);
  }
}
