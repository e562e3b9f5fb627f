// The login-ticket grant: redeems the one-minute ticket a client got for a user who proved a code
// or link, and issues tokens for them (grants/issue.ts). The Userfront API issues the same tokens
// in-process with `issuedAs`, without a ticket.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../../storage/db.js';
import type { Keyring } from '../../passwordless/keyring.js';
import { AT_TOKEN_ENDPOINT, redeemLoginTicket } from '../../passwordless/login-tickets.js';
import { issueForAccount, type IssuedAs } from './issue.js';

export const grantType = 'urn:sesame:params:oauth:grant-type:login-ticket';
export const grantTypes = [grantType];
export const parameters = ['login_ticket', 'scope'];
export const issuedAs: IssuedAs = { gty: grantType, entityLabel: 'login ticket' };

export function handler(deps: { db: Db; keyring: Keyring }) {
  return async function loginTicket(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client!;
    const params = ctx.oidc.params as Record<string, unknown>;
    const ticket = params.login_ticket;
    if (typeof ticket !== 'string' || !ticket) throw new errors.InvalidRequest('missing required parameter(s) (login_ticket)');

    const redeemed = await redeemLoginTicket(deps.db, deps.keyring, ticket, client.clientId, [AT_TOKEN_ENDPOINT]);
    if (!redeemed) throw new errors.InvalidGrant('login ticket invalid, expired, used or issued to another client');

    const scope = typeof params.scope === 'string' ? params.scope : 'openid';
    const resource = typeof params.resource === 'string' ? params.resource : undefined;
    await issueForAccount(ctx, { accountId: redeemed.userId, amr: redeemed.amr, scope, resource }, issuedAs);
  };
}
