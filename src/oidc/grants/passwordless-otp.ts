// The passwordless OTP grant (Auth0's `http://auth0.com/oauth/grant-type/passwordless/otp`, also
// under Sesame's own URN): username + otp + realm in, tokens out, issued like every grant of ours
// (grants/issue.ts) so refresh, userinfo, introspection and revocation treat them like any other.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { checkCode, type CodeCheckDeps } from '../../passwordless/one-time-codes.js';
import { normalizeEmail, parsePhone } from '../../passwordless/identifiers.js';
import { connectionById } from '../../config/connections.js';
import { trustsForwardedFor } from '../client-metadata.js';
import { apiFlowKey } from '../../passwordless/flows.js';
import { requesterIp, requesterNetwork } from '../../passwordless/requester-network.js';
import { codeAmr } from '../acr.js';
import { issueForAccount, type IssuedAs } from './issue.js';
import { answerMfaRequired } from './mfa-required.js';
import { riskOfGrant } from './risk.js';
import { mfaAudience } from '../resources.js';
import type { Logger } from '../../log.js';

export const grantTypes = ['http://auth0.com/oauth/grant-type/passwordless/otp', 'urn:sesame:params:oauth:grant-type:passwordless-otp'];
export const parameters = ['username', 'otp', 'realm', 'scope', 'audience'];
// Both URNs record Auth0's in the tokens they issue.
const issuedAs: IssuedAs = { gty: grantTypes[0]!, entityLabel: 'passwordless otp' };

/** Auth0's answer to a wrong or used code: 403 invalid_grant, same words whatever the cause (per connection type). */
class WrongOtp extends errors.OIDCProviderError {
  override error_description: string;
  constructor(sms = false) {
    super(403, 'invalid_grant');
    this.error_description = sms ? 'Wrong phone number or verification code.' : 'Wrong email or verification code.';
  }
}

class TooManyAttempts extends errors.OIDCProviderError {
  override error_description = 'Too many failed attempts. Wait before trying again.';
  constructor() {
    super(429, 'too_many_attempts');
  }
}

class UnknownAudience extends errors.OIDCProviderError {
  constructor(audience: string) {
    super(403, 'access_denied');
    this.error_description = `Service not found: ${audience}`;
  }
  override error_description: string;
}

function param(ctx: KoaContextWithOIDC, name: string): string | undefined {
  const value = (ctx.oidc.params as Record<string, unknown>)[name];
  return typeof value === 'string' && value ? value : undefined;
}

export function handler(deps: CodeCheckDeps & { log: Logger }) {
  // The MFA API's audience too: asked for at the first factor, issued after the second.
  const apis = new Set([...deps.config.apis.map((api) => api.identifier), mfaAudience(deps.config.issuer)]);
  return async function passwordlessOtp(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client!;
    const username = param(ctx, 'username');
    const otp = param(ctx, 'otp');
    const realm = param(ctx, 'realm');
    if (!username || !otp || !realm) throw new errors.InvalidRequest('missing required parameter(s) (username, otp, realm)');
    const connection = connectionById(deps.config, realm);
    if (!connection) throw new errors.InvalidRequest(`realm "${realm}" is not enabled`);
    const identifier = connection.type === 'sms' ? parsePhone(username, connection.defaultCountry)?.e164 : normalizeEmail(username);
    const sms = connection.type === 'sms';
    if (!identifier) throw new WrongOtp(sms);
    const audience = param(ctx, 'audience') ?? param(ctx, 'resource');
    if (audience && !apis.has(audience)) throw new UnknownAudience(audience);

    const who = { ip: requesterIp(ctx, trustsForwardedFor(client.metadata())), clientId: client.clientId, locale: 'en' };
    // The client-wide cap is counted inside, after the per-IP and per-address limits passed.
    const result = await checkCode(deps, apiFlowKey(client.clientId, identifier, requesterNetwork(who.ip)), otp, who, {
      checksPerClientPerMinute: deps.config.rateLimits.otpGrantsPerClientPerMinute,
    });
    if (!result.ok) {
      if (result.reason === 'delayed') {
        ctx.set('Retry-After', String(result.retryAfter ?? 1));
        throw new TooManyAttempts();
      }
      throw new WrongOtp(sms);
    }

    const signIn = { accountId: result.user.id, amr: codeAmr(sms), scope: param(ctx, 'scope') ?? 'openid', resource: audience };
    // The client's risk action first (grants/risk.ts): it may refuse, or ask for one of its methods.
    const risk = await riskOfGrant(ctx, deps, signIn, who.ip);
    if (risk === 'answered' || (await answerMfaRequired(ctx, deps, signIn, risk.adaptive))) return;
    await issueForAccount(ctx, signIn, issuedAs);
  };
}
