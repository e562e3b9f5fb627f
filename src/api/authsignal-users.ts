// The users part of the Authsignal-compatible server API (tenant secret key): a user's attributes
// (getUser / updateUser / deleteUser) and authenticators (getAuthenticators,
// enrollVerifiedAuthenticator, deleteAuthenticator). User ids and authenticator ids arrive as the
// SDK puts them in the path (not URL-encoded; ids of factors hold a `|`). The work is in
// passwordless/action-profiles.ts and action-authenticators.ts.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { noStore } from '../http/middleware.js';
import { requesterIp } from '../passwordless/requester-network.js';
import { parseBody } from '../passwordless/action-configurations.js';
import { appUserIdOf, attributesInput, deleteActionUser, updateAttributes, userView, type TenantAsker } from '../passwordless/action-profiles.js';
import { enrolVerifiedAuthenticator, listActionAuthenticators, removeActionAuthenticator } from '../passwordless/action-authenticators.js';
import { serverApiErrors, tenantAuth, type TenantState } from './authsignal-common.js';

export type AuthsignalUsersDeps = Pick<Services, 'db' | 'config' | 'mfaKeyring' | 'renderer' | 'wakeWorker'>;

const askerOf = (ctx: Context): TenantAsker => ({ tenantId: (ctx.state as TenantState).tenantId, ip: requesterIp(ctx) });

function enrolmentBody(body: unknown) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new SesameError('invalidRequest', { detail: 'body: a JSON object is required' });
  const input = body as Record<string, unknown>;
  if (typeof input.verificationMethod !== 'string') throw new SesameError('invalidRequest', { detail: 'verificationMethod: required' });
  return { ...input, verificationMethod: input.verificationMethod };
}

export function authsignalUsersRouter(s: AuthsignalUsersDeps): Router {
  const router = new Router({ prefix: '/v1/users' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' });
  const guard = [serverApiErrors, noStore, tenantAuth(s)];

  router.get('/:userId', ...guard, async function getUser(ctx) {
    ctx.body = await userView(s.db, askerOf(ctx).tenantId, appUserIdOf(ctx.params.userId));
  });

  router.patch('/:userId', ...guard, json, async function updateUser(ctx) {
    const input = parseBody(attributesInput, ctx.request.body);
    ctx.body = await updateAttributes(s.db, askerOf(ctx), appUserIdOf(ctx.params.userId), input);
  });

  router.delete('/:userId', ...guard, async function deleteUser(ctx) {
    const userId = appUserIdOf(ctx.params.userId);
    await deleteActionUser(s.db, askerOf(ctx), userId);
    ctx.body = { userId, deleted: true };
  });

  router.get('/:userId/authenticators', ...guard, async function getAuthenticators(ctx) {
    ctx.body = await listActionAuthenticators(s, askerOf(ctx).tenantId, appUserIdOf(ctx.params.userId));
  });

  router.post('/:userId/authenticators', ...guard, json, async function enrollVerifiedAuthenticator(ctx) {
    const result = await enrolVerifiedAuthenticator(s, askerOf(ctx), appUserIdOf(ctx.params.userId), enrolmentBody(ctx.request.body));
    ctx.body = result;
  });

  router.delete('/:userId/authenticators/:authenticatorId', ...guard, async function deleteAuthenticator(ctx) {
    const userId = appUserIdOf(ctx.params.userId);
    const id = ctx.params.authenticatorId!;
    if (!(await removeActionAuthenticator(s, askerOf(ctx), userId, id))) {
      throw new SesameError('notFound', { detail: 'This user has no authenticator with this id.' });
    }
    ctx.body = { userAuthenticatorId: id, deleted: true };
  });

  return router;
}
