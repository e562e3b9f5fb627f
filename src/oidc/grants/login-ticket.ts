// The login-ticket grant: redeems the one-minute ticket Sesame's own APIs issue once a user proved
// a code or link (the Userfront routes call it over loopback), and issues tokens with
// oidc-provider's own machinery, so refresh, introspection and revocation treat them like any other.
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../../storage/db.js';
import type { Keyring } from '../../passwordless/keyring.js';
import { AT_TOKEN_ENDPOINT, redeemLoginTicket } from '../../passwordless/login-tickets.js';
import { boundGrantHelpers, issueTokens } from '../internals.js';
import { acrOf } from '../acr.js';

export const grantType = 'urn:sesame:params:oauth:grant-type:login-ticket';
export const parameters = ['login_ticket', 'scope'];

const OIDC_SCOPES = new Set(['openid', 'email', 'profile', 'offline_access']);

export function loginTicketHandler(deps: { db: Db; keyring: Keyring }) {
  return async function loginTicket(ctx: KoaContextWithOIDC): Promise<void> {
    const provider = ctx.oidc.provider as Provider;
    const client = ctx.oidc.client!;
    const params = ctx.oidc.params as Record<string, unknown>;
    const ticket = params.login_ticket;
    if (typeof ticket !== 'string' || !ticket) throw new errors.InvalidRequest('missing required parameter(s) (login_ticket)');
    const resource = params.resource;
    if (resource !== undefined && typeof resource !== 'string') throw new errors.InvalidTarget('only a single resource indicator value must be requested');

    const redeemed = await redeemLoginTicket(deps.db, deps.keyring, ticket, client.clientId, [AT_TOKEN_ENDPOINT]);
    if (!redeemed) throw new errors.InvalidGrant('login ticket invalid, expired, used or issued to another client');

    const requested = [...new Set((typeof params.scope === 'string' ? params.scope : 'openid').split(' ').filter(Boolean))];
    const grant = new provider.Grant({ accountId: redeemed.userId, clientId: client.clientId });
    grant.addOIDCScope(requested.filter((s) => OIDC_SCOPES.has(s)).join(' '));
    if (resource) grant.addResourceScope(resource, requested.join(' '));
    await grant.save();

    // An unsaved authorization code is the "source" the built-in grants issue tokens from.
    const source = new provider.AuthorizationCode({
      accountId: redeemed.userId,
      acr: acrOf(redeemed.amr),
      amr: redeemed.amr,
      authTime: Math.floor(Date.now() / 1000),
      client,
      grantId: grant.jti,
      scope: requested.join(' '),
      resource,
      expiresWithSession: false,
    } as never);
    ctx.oidc.entity('Grant', grant);
    await issueTokens(provider, boundGrantHelpers(provider), ctx, source, grant, { gty: grantType, entityLabel: 'login ticket' });
  };
}
