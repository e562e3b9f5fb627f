// Management API for a user's second factors (support: "I lost my phone and my recovery codes"): the
// same operations as `sesame users mfa` (passwordless/mfa/support.ts), plus the removal of one factor.
// Each removal and reset is audited with the management client that asked. A factor is only ever
// reached through its own user: another user's authenticator id answers 404 and nothing is removed.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { notFound } from '../http/errors.js';
import { managementRemover, pathUser } from './management-users.js';
import { factorsOf, removeFactorFor, resetFactors } from '../passwordless/mfa/support.js';

// Auth0's shape, `<type>|dev_<random>` (the `|` arrives URL-encoded and the router decodes it).
const AUTHENTICATOR_ID = /^(totp|sms|email|recovery-code)\|dev_[A-Za-z0-9_-]{1,64}$/;

export function userMfaRoutes(router: Router, s: Pick<Services, 'db'>): void {
  const userOf = (ctx: Context) => pathUser(s, ctx);
  const remover = managementRemover;

  router.get('/users/:id/authenticators', async function listUserAuthenticators(ctx) {
    ctx.body = { authenticators: await factorsOf(s.db, await userOf(ctx)) };
  });

  router.delete('/users/:id/authenticators/:authenticatorId', async function removeUserAuthenticator(ctx) {
    const userId = await userOf(ctx);
    const id = ctx.params.authenticatorId!;
    if (!AUTHENTICATOR_ID.test(id) || !(await removeFactorFor(s.db, userId, id, remover(ctx)))) throw notFound('This user has no authenticator with this id.');
    ctx.status = 204;
  });

  router.delete('/users/:id/authenticators', async function resetUserAuthenticators(ctx) {
    const userId = await userOf(ctx);
    ctx.body = { removed: await resetFactors(s.db, userId, remover(ctx)) };
  });
}
