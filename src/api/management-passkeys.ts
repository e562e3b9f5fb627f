// Management API for a user's passkeys (support: "I lost my phone"): the same operations as
// `sesame users passkeys` (passwordless/passkey-support.ts). Each removal is audited with the
// management client that asked. A passkey is only ever reached through its own user: another
// user's passkey id answers 404 and nothing is removed. Schema-driven routes (management-routes.ts).
import { z } from 'zod';
import { notFound } from '../http/errors.js';
import { managementRemover, pathUser } from './management-users.js';
import { passkeysOf, removeAllPasskeys, removePasskey } from '../passwordless/passkey-support.js';
import { route, type ManagementRoute } from './management-routes.js';
import { PasskeySchema } from './management-user-routes.js';

// Credential ids are stored as WebAuthn's base64url; anything else names no passkey.
const PASSKEY_ID = /^[A-Za-z0-9_-]{1,1400}$/;
const ID = { id: 'The user id.' };
const NO_USER = { 404: 'No user with this id.' };

export const USER_PASSKEY_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'get',
    path: '/users/:id/passkeys',
    scope: 'users:read',
    summary: "List a user's passkeys, newest first.",
    params: ID,
    ok: { 200: { description: 'The passkeys.', schema: z.object({ passkeys: z.array(PasskeySchema) }) } },
    refusals: NO_USER,
    async handle(s, ctx) {
      return { status: 200, body: { passkeys: await passkeysOf(s.db, await pathUser(s, ctx)) } };
    },
  }),
  route({
    method: 'delete',
    path: '/users/:id/passkeys/:passkeyId',
    scope: 'users:write',
    summary: 'Remove one passkey of a user (audited as passkey.removed).',
    params: { ...ID, passkeyId: 'The passkey (credential) id, base64url.' },
    ok: { 204: { description: 'Removed.' } },
    refusals: { 404: 'No such user, or the user has no passkey with this id.' },
    async handle(s, ctx) {
      const userId = await pathUser(s, ctx);
      const passkeyId = ctx.params.passkeyId as string;
      if (!PASSKEY_ID.test(passkeyId) || !(await removePasskey(s.db, userId, passkeyId, managementRemover(ctx)))) throw notFound('This user has no passkey with this id.');
      return { status: 204 };
    },
  }),
  route({
    method: 'delete',
    path: '/users/:id/passkeys',
    scope: 'users:write',
    summary: 'Remove every passkey of a user (a lost device). Each removal is audited (passkey.removed); codes and sessions stay.',
    params: ID,
    ok: { 200: { description: 'The ids removed.', schema: z.object({ removed: z.array(z.string()) }) } },
    refusals: NO_USER,
    async handle(s, ctx) {
      return { status: 200, body: { removed: await removeAllPasskeys(s.db, await pathUser(s, ctx), managementRemover(ctx)) } };
    },
  }),
];
