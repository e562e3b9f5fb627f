// Management API for a user's passkeys (support: "I lost my phone"): the same operations as
// `sesame users passkeys` (passwordless/passkey-support.ts). Each removal is audited with the
// management client that asked. A passkey is only ever reached through its own user: another
// user's passkey id answers 404 and nothing is removed.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { notFound } from '../http/errors.js';
import { managementRemover, pathUser } from './management-users.js';
import { passkeysOf, removeAllPasskeys, removePasskey } from '../passwordless/passkey-support.js';

// Credential ids are stored as WebAuthn's base64url; anything else names no passkey.
const PASSKEY_ID = /^[A-Za-z0-9_-]{1,1400}$/;

export function userPasskeyRoutes(router: Router, s: Pick<Services, 'db'>): void {
  const userOf = (ctx: Context) => pathUser(s, ctx);
  const remover = managementRemover;

  router.get('/users/:id/passkeys', async function listUserPasskeys(ctx) {
    ctx.body = { passkeys: await passkeysOf(s.db, await userOf(ctx)) };
  });

  router.delete('/users/:id/passkeys/:passkeyId', async function removeUserPasskey(ctx) {
    const userId = await userOf(ctx);
    const passkeyId = ctx.params.passkeyId!;
    if (!PASSKEY_ID.test(passkeyId) || !(await removePasskey(s.db, userId, passkeyId, remover(ctx)))) throw notFound('This user has no passkey with this id.');
    ctx.status = 204;
  });

  router.delete('/users/:id/passkeys', async function removeUserPasskeys(ctx) {
    const userId = await userOf(ctx);
    ctx.body = { removed: await removeAllPasskeys(s.db, userId, remover(ctx)) };
  });
}
