// Who calls the MFA API (api/mfa.ts) and what its calls share. The bearer is an MFA API access
// token (an opaque row for the audience `<issuer>/mfa/`, issued only after a second factor) or an
// mfa_token (from the first factor alone); a browser's origin must be one of the web origins of the
// client the token was issued to. Codes sent as challenges carry an oob_code bound to who asked.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError, smsRefusal } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { sendFactorCode, type OobFactor } from '../passwordless/mfa/oob.js';
import { newChallengeId, sealOobCode } from '../passwordless/mfa/oob-codes.js';
import { mfaTokenDigest, readMfaToken, type PendingSignIn } from '../passwordless/mfa/tokens.js';
import { requesterIp } from '../passwordless/requester-network.js';
import type { Client } from '../oidc/client-metadata.js';
import { mfaAudience } from '../oidc/resources.js';
import type { corsFor } from './cors.js';

export type MfaApiDeps = Pick<Services, 'provider' | 'config' | 'db' | 'keyring' | 'mfaKeyring' | 'log' | 'renderer' | 'wakeWorker'>;

/** Who called: the user, the client the token was issued to, and by which token. */
export type Caller =
  { via: 'mfa_token'; userId: string; client: Client; signIn: PendingSignIn; token: string } | { via: 'access_token'; userId: string; client: Client; scopes: Set<string> };

/** Reads the bearer of a request: an MFA API access token or an mfa_token; 401 invalid_token otherwise. */
export function bearerCaller(s: MfaApiDeps, cors: ReturnType<typeof corsFor>) {
  const audience = mfaAudience(s.config.issuer);
  const invalidToken = (detail: string) => new SesameError('invalidToken', { detail, headers: { 'WWW-Authenticate': `Bearer realm="${audience}"` } });

  /** The client a token was issued to, still there; the browser's origin must be one of its web origins. */
  async function clientOf(ctx: Context, clientId: string): Promise<Client> {
    const client = await s.provider.Client.find(clientId).catch(() => undefined);
    if (!client) throw invalidToken('The token is not valid: its client is gone.');
    await cors.checkActualOrigin(ctx, client);
    return client;
  }

  return async function caller(ctx: Context): Promise<Caller> {
    const [scheme, value] = ctx.get('authorization').split(' ');
    if (scheme?.toLowerCase() !== 'bearer' || !value) throw invalidToken('A bearer token is required: an mfa_token, or an access token for the MFA API.');
    const accessToken = await s.provider.AccessToken.find(value).catch(() => undefined);
    if (accessToken) {
      if (accessToken.aud !== audience || !accessToken.accountId) throw invalidToken('The access token is not for the MFA API.');
      // A sender-constrained token needs its proof, which this API does not take.
      if (accessToken.jkt || accessToken['x5t#S256']) throw invalidToken('Sender-constrained access tokens are not accepted here.');
      const client = await clientOf(ctx, accessToken.clientId!);
      return { via: 'access_token', userId: accessToken.accountId, client, scopes: new Set((accessToken.scope ?? '').split(' ')) };
    }
    const read = await readMfaToken(s, value, null);
    if (!read.ok) throw invalidToken(read.reason === 'expired' ? 'mfa_token is expired' : 'The token is not valid: unknown, spent or expired.');
    const client = await clientOf(ctx, read.signIn.clientId);
    return { via: 'mfa_token', userId: read.signIn.userId, client, signIn: read.signIn, token: value };
  };
}

/** An access token must carry `scope`; an mfa_token's rights are decided per route. */
export function requireScope(who: Caller, scope: string): void {
  if (who.via === 'access_token' && !who.scopes.has(scope)) throw new SesameError('insufficientScope', { detail: `The access token lacks the ${scope} scope.` });
}

/** What a code send is asked by: the end user's IP (Auth0's forwarded header only from a trusted, authenticated client) and language. */
function requester(s: MfaApiDeps, ctx: Context, clientId: string, trusted: boolean) {
  const locale = negotiateLocale(undefined, ctx.get('x-request-language') || ctx.get('accept-language'), s.config.ui.defaultLocale);
  return { ip: requesterIp(ctx, trusted), clientId, locale };
}

export interface OobAsker {
  userId: string;
  clientId: string;
  /** The mfa_token that asked (the oob_code then answers for it alone), or null for an MFA API access token. */
  mfaToken: string | null;
  trusted: boolean;
}

/** Sends a code to `factor` for a new challenge (the code limits apply) and returns its oob_code. */
export async function sendOob(s: MfaApiDeps, ctx: Context, factor: OobFactor, asker: OobAsker): Promise<string> {
  const challengeId = newChallengeId();
  const sent = await sendFactorCode(s, challengeId, factor, requester(s, ctx, asker.clientId, asker.trusted));
  if (!sent.ok) {
    const refusal = smsRefusal(sent.reason);
    if (refusal) throw new SesameError(refusal);
    throw tooManyRequests(sent.retryAfter, `Too many requests; wait ${sent.retryAfter} s before asking for another code.`);
  }
  const { userId, clientId, mfaToken } = asker;
  const expiresAt = Date.now() + s.config.mfa.tokenTtl * 1000;
  return sealOobCode(s.mfaKeyring, { challengeId, authenticatorId: factor.id, userId, clientId, mfaToken: mfaToken && mfaTokenDigest(mfaToken), expiresAt });
}
