// `mfa_required` from oidc-provider's own refresh_token grant: a refresh token from a sign-in without
// a second factor (its amr lacks `mfa`) gets no new tokens while the policy now asks for one (turned
// on for the client, or the user enrolled under `enrolled`); the app completes MFA through the MFA
// API and gets fresh tokens from the MFA grant. The check runs inside oidc-provider's handler at its
// rotateRefreshToken hook: after every check of the token (client, expiry, DPoP and mTLS binding,
// reuse detection that revokes the grant) and before anything changes, so the built-in rotation and
// revocation stay exactly as they were. The hook throws; the wrapped handler writes Auth0's body.
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { MfaDeps } from '../../passwordless/mfa/keys.js';
import type { MfaNeed } from '../../passwordless/mfa/policy.js';
import { registeredGrant } from '../internals.js';
import type { AccountSignIn } from './issue.js';
import { mfaNeedOf, writeMfaRequired } from './mfa-required.js';

type Deps = Pick<MfaDeps, 'config' | 'db'>;

/** Thrown from the hook to the wrapper: what the refresh token stands for and what MFA it needs. */
class MfaRequiredOnRefresh extends Error {
  constructor(
    readonly signIn: AccountSignIn,
    readonly need: Exclude<MfaNeed, { kind: 'none' }>,
  ) {
    super('multi-factor authentication required');
  }
}

interface RefreshTokenLike {
  accountId: string;
  amr?: string[];
  scope?: string;
  resource?: string | string[];
}

/** oidc-provider's `rotateRefreshToken`: refuses a refresh the policy now wants a second factor for; otherwise rotates, as always. */
export function refreshMfaCheck(deps: Deps) {
  return async function rotateRefreshToken(ctx: KoaContextWithOIDC): Promise<boolean> {
    const token = ctx.oidc.entities.RefreshToken as unknown as RefreshTokenLike | undefined;
    const client = ctx.oidc.client;
    if (token && client) {
      const resource = typeof token.resource === 'string' ? token.resource : undefined;
      const signIn: AccountSignIn = { accountId: token.accountId, amr: token.amr ?? [], scope: token.scope ?? 'openid', resource };
      const need = await mfaNeedOf(deps, client, signIn);
      if (need.kind !== 'none') throw new MfaRequiredOnRefresh(signIn, need);
    }
    return true;
  };
}

type GrantHandler = (ctx: KoaContextWithOIDC) => Promise<void>;

/**
 * Wraps the registered refresh_token handler so the hook's refusal becomes Auth0's `mfa_required`;
 * `around` wraps it first (the adapter's holdingConsume: the rotation's writes in one statement).
 */
export function answerMfaOnRefresh(provider: Provider, deps: Deps, around: (handler: GrantHandler) => GrantHandler = (handler) => handler): void {
  const original = around(registeredGrant(provider, 'refresh_token'));
  const wrapped = async function refreshToken(ctx: KoaContextWithOIDC): Promise<void> {
    try {
      await original(ctx);
    } catch (err) {
      if (!(err instanceof MfaRequiredOnRefresh)) throw err;
      // In-process refreshes (the Userfront API) have no token response to write it into.
      if (ctx.oidc.route !== 'token') throw new errors.InvalidGrant('multi-factor authentication required');
      await writeMfaRequired(ctx, deps, err.signIn, err.need);
    }
  };
  // The built-in's parameters, with resource indicators on (lib/helpers/initialize_app.js).
  provider.registerGrantType('refresh_token', wrapped, ['refresh_token', 'scope', 'resource'], ['resource']);
}
