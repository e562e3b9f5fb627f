// Management API for a user's second factors (support: "I lost my phone and my recovery codes"): the
// same operations as `sesame users mfa` (passwordless/mfa/support.ts), plus the removal of one factor.
// Each removal and reset is audited with the management client that asked. A factor is only ever
// reached through its own user: another user's authenticator id answers 404 and nothing is removed.
// Schema-driven routes (management-routes.ts).
import { z } from 'zod';
import { notFound } from '../http/errors.js';
import { managementRemover, pathUser } from './management-users.js';
import { factorsOf, removeFactorFor, resetFactors } from '../passwordless/mfa/support.js';
import { route, type ManagementRoute } from './management-routes.js';
import { FactorSchema } from './management-user-routes.js';

// Auth0's shape, `<type>|dev_<random>` (the `|` arrives URL-encoded and the router decodes it).
const AUTHENTICATOR_ID = /^(totp|sms|email|recovery-code)\|dev_[A-Za-z0-9_-]{1,64}$/;
const ID = { id: 'The user id.' };
const NO_USER = { 404: 'No user with this id.' };

export const USER_MFA_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'get',
    path: '/users/:id/authenticators',
    scope: 'users:read',
    summary: "List a user's second factors (authenticators), oldest first; no secret.",
    params: ID,
    ok: { 200: { description: 'The authenticators.', schema: z.object({ authenticators: z.array(FactorSchema) }) } },
    refusals: NO_USER,
    async handle(s, ctx) {
      return { status: 200, body: { authenticators: await factorsOf(s.db, await pathUser(s, ctx)) } };
    },
  }),
  route({
    method: 'delete',
    path: '/users/:id/authenticators/:authenticatorId',
    scope: 'users:write',
    summary: 'Remove one second factor of a user (audited as mfa.removed); a recovery-code authenticator takes its codes with it.',
    params: { ...ID, authenticatorId: 'The authenticator id, `<type>|dev_<random>` (the `|` URL-encoded).' },
    ok: { 204: { description: 'Removed.' } },
    refusals: { 404: 'No such user, or the user has no authenticator with this id.' },
    async handle(s, ctx) {
      const userId = await pathUser(s, ctx);
      const id = ctx.params.authenticatorId as string;
      if (!AUTHENTICATOR_ID.test(id) || !(await removeFactorFor(s.db, userId, id, managementRemover(ctx)))) throw notFound('This user has no authenticator with this id.');
      return { status: 204 };
    },
  }),
  route({
    method: 'delete',
    path: '/users/:id/authenticators',
    scope: 'users:write',
    summary: 'Reset: remove every second factor and recovery code of a user (audited as mfa.reset). Passkeys and codes stay.',
    params: ID,
    ok: { 200: { description: 'The ids removed.', schema: z.object({ removed: z.array(z.string()) }) } },
    refusals: NO_USER,
    async handle(s, ctx) {
      return { status: 200, body: { removed: await resetFactors(s.db, await pathUser(s, ctx), managementRemover(ctx)) } };
    },
  }),
];
