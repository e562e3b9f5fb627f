// /connections/:id/callback: where the operator's login service sends the user back with a signed
// assertion. Every refusal shows a page naming the problem (for the operator to fix) and is
// audited; a success continues the waiting sign-in through a one-minute ticket cookie that only
// that sign-in (the interaction named by the state) can redeem.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { externalConnection } from '../config/connections.js';
import { SesameError } from '../errors.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { recordAudit } from '../storage/audit.js';
import { externalUser } from '../storage/external.js';
import { findUserByEmail } from '../storage/users.js';
import { maySignUp } from '../passwordless/sign-up.js';
import { atInteraction, issueLoginTicket } from '../passwordless/login-tickets.js';
import { setTicketCookie } from '../http/ticket-cookie.js';
import { checkAssertion } from './external.js';
import { AMR } from '../oidc/acr.js';

export function connectionsRouter(s: Services): Router {
  const router = new Router({ prefix: '/connections' });

  router.get('/:id/callback', async function externalCallback(ctx: Context) {
    ctx.state.locale = negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
    ctx.set('Cache-Control', 'no-store');
    const connection = externalConnection(s.config, ctx.params.id);
    if (!connection) throw new SesameError('unknownConnection');
    const result = await checkAssertion(s.db, s.keyring.current().secret, connection, ctx.query, s.config.issuer);
    const audit = { ip: ctx.ip, identifier: `${connection.id}:${result.ok ? result.subject : '?'}` };
    if (!result.ok) {
      await recordAudit(s.db, { type: 'external.failed', ...audit, clientId: result.serviceClientId ?? null, reason: result.reason });
      throw new SesameError('externalRefused', { reason: result.reason });
    }
    // An asserted email is stored (as verified) only from a connection the operator trusts to prove it,
    // and only when no one else has it: otherwise the address's owner would later sign in to this
    // account, or an assertion could take an account over.
    const asserted = connection.trustEmails ? result.profile.email : undefined;
    const email = asserted && !(await findUserByEmail(s.db, asserted)) ? asserted : undefined;
    const userId = await externalUser(s.db, connection.id, result.subject, maySignUp(s.config.signUp), { ...result.profile, email });
    if (!userId) {
      await recordAudit(s.db, { type: 'external.failed', ...audit, clientId: result.serviceClientId, reason: 'no_account' });
      throw new SesameError('externalRefused', { reason: 'no_account' });
    }
    await recordAudit(s.db, { type: 'login', ...audit, clientId: result.clientId, userId, reason: `external ${connection.id} via ${result.serviceClientId}` });
    const ticket = await issueLoginTicket(s.db, s.keyring, userId, result.clientId, AMR.external, atInteraction(result.interactionUid));
    setTicketCookie(ctx, ticket);
    ctx.status = 303;
    ctx.redirect(`/interaction/${result.interactionUid}`);
  });

  return router;
}
