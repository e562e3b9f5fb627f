// The management API's users area (support): search, read, rename, block and unblock, erase, export a
// user, and end their sessions and grants. Each route is a schema-driven declaration
// (management-routes.ts): its scope, the zod schemas that validate it and make its OpenAPI entry. The
// operations are passwordless/user-accounts.ts's, shared with `sesame users`; every change is audited
// with the management client. Another user's session or grant id answers 404 and touches nothing.
import { z } from 'zod';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { notFound } from '../http/errors.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import { MAX_NAME_LENGTH, parseName } from '../passwordless/names.js';
import { blockUser, endUserSession, eraseUser, exportUser, grantsOf, renameUser, revokeUserGrant, sessionsOf, unblockUser, viewOf } from '../passwordless/user-accounts.js';
import { storable } from '../storage/db.js';
import { findUserRecord, searchUsers } from '../storage/users.js';
import { managementRemover, pathUser } from './management-users.js';
import { route, type ManagementRoute } from './management-routes.js';

const date = z.iso.datetime({ offset: true });

export const UserSchema = z.object({
  id: z.string(),
  email: z.string().nullable(),
  emailVerified: z.boolean(),
  phoneNumber: z.string().nullable().describe('E.164.'),
  phoneVerified: z.boolean(),
  name: z.string().nullable(),
  blocked: z.boolean(),
  blockedAt: date.nullable(),
  createdAt: date,
  updatedAt: date,
});

const SessionSchema = z.object({ id: z.string().describe("oidc-provider's session uid."), signedInAt: date.nullable(), grantIds: z.array(z.string()) });
const GrantSchema = z.object({ id: z.string(), clientId: z.string(), scope: z.string(), grantedAt: date.nullable(), expiresAt: date.nullable() });
const nullableString = z.string().nullable();
export const FactorSchema = z.object({
  id: z.string().describe('`<type>|dev_<random>`.'),
  type: z.enum(['totp', 'sms', 'email', 'recovery-code']),
  confirmed: z.boolean().describe('False while an enrolment waits for its first code.'),
  name: nullableString,
  phoneNumber: nullableString.describe('E.164, sms factors only.'),
  email: nullableString.describe('email factors only.'),
  createdAt: date,
  lastUsedAt: date.nullable(),
  remaining: z.number().int().nullable().describe('Unused recovery codes (recovery-code only).'),
});
export const PasskeySchema = z.object({
  id: z.string().describe('Credential id, base64url.'),
  name: nullableString.describe("The name the user gave it (at first the provider's)."),
  authenticator: nullableString.describe('The provider its AAGUID names, when known.'),
  aaguid: z.string(),
  synced: z.boolean().describe('Synced between devices (backed up); false: device-bound.'),
  transports: z.array(z.string()),
  createdAt: date,
  lastUsedAt: date.nullable(),
});
const AuditSchema = z.object({
  type: z.string(),
  clientId: nullableString,
  ip: nullableString,
  userAgent: nullableString,
  reason: nullableString,
  count: z.number().int(),
  createdAt: date,
});
export const ExportSchema = z.object({
  profile: UserSchema,
  factors: z.array(FactorSchema),
  passkeys: z.array(PasskeySchema),
  sessions: z.array(SessionSchema),
  grants: z.array(GrantSchema),
  audit: z.array(AuditSchema).describe('The latest 100 events, newest first.'),
});

const SearchQuery = z.strictObject({
  email: z.string().optional().describe('An exact email address.'),
  phone: z.string().optional().describe('An exact phone number (E.164).'),
  q: z.string().min(1).max(200).optional().describe('Part of an email address, phone number or name, or a whole id.'),
  after: z.string().max(200).optional().describe("The previous page's `next`."),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
const PatchBody = z.strictObject({
  name: z
    .string()
    .nullable()
    .refine((v) => v === null || parseName(v) !== null, `must be 1 to ${MAX_NAME_LENGTH} characters without control characters or line breaks, or null`),
});

const ID = { id: 'The user id.' };
const NO_USER = { 404: 'No user with this id.' };
const who = managementRemover;

async function recordOf(s: Pick<Services, 'db'>, ctx: Context) {
  const record = await findUserRecord(s.db, await pathUser(s, ctx));
  if (!record) throw notFound('No user with this id.');
  return record;
}

export const USER_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'get',
    path: '/users',
    scope: 'users:read',
    summary: 'Search users by exact email or phone, or by part of one (q); ids ascending, a page at a time.',
    params: {},
    query: SearchQuery,
    ok: {
      200: {
        description: 'A page of users; `next` is the cursor of the next page, null at the end.',
        schema: z.object({ users: z.array(UserSchema), next: z.string().nullable() }),
      },
    },
    refusals: { 400: 'A parameter is not valid (the description names it).' },
    async handle(s, _ctx, { query }) {
      const email = query.email === undefined ? undefined : normalizeEmail(query.email);
      if (email === null) throw notValid('email: not an email address.');
      const phone = query.phone === undefined ? undefined : parsePhone(query.phone)?.e164;
      if (phone === undefined && query.phone !== undefined) throw notValid('phone: not a phone number in E.164 form.');
      const rows = await searchUsers(s.db, { email, phoneNumber: phone, q: query.q, after: query.after, limit: query.limit + 1 });
      const users = rows.slice(0, query.limit).map(viewOf);
      return { status: 200, body: { users, next: rows.length > query.limit ? users.at(-1)!.id : null } };
    },
  }),
  route({
    method: 'get',
    path: '/users/:id',
    scope: 'users:read',
    summary: 'One user.',
    params: ID,
    ok: { 200: { description: 'The user.', schema: UserSchema } },
    refusals: NO_USER,
    async handle(s, ctx) {
      return { status: 200, body: viewOf(await recordOf(s, ctx)) };
    },
  }),
  route({
    method: 'patch',
    path: '/users/:id',
    scope: 'users:write',
    summary: "Change a user's name (the `name` claim; null removes it). Sesame stores no other claim to change.",
    params: ID,
    body: PatchBody,
    ok: { 200: { description: 'The user.', schema: UserSchema } },
    refusals: { 400: 'The body is not valid (the description names the field).', ...NO_USER },
    async handle(s, ctx, { body }) {
      const user = await renameUser(s.db, await pathUser(s, ctx), body.name === null ? null : parseName(body.name), who(ctx));
      if (!user) throw notFound('No user with this id.');
      return { status: 200, body: user };
    },
  }),
  route({
    method: 'post',
    path: '/users/:id/block',
    scope: 'users:write',
    summary: 'Block a user: every session and grant ends with its tokens, and every sign-in is refused until unblocked (audited as user.blocked).',
    params: ID,
    ok: { 200: { description: 'The user, blocked.', schema: UserSchema } },
    refusals: NO_USER,
    async handle(s, ctx) {
      const user = await blockUser(s.db, await pathUser(s, ctx), who(ctx));
      if (!user) throw notFound('No user with this id.');
      return { status: 200, body: user };
    },
  }),
  route({
    method: 'post',
    path: '/users/:id/unblock',
    scope: 'users:write',
    summary: 'Unblock a user (audited as user.unblocked); ended sessions stay ended.',
    params: ID,
    ok: { 200: { description: 'The user.', schema: UserSchema } },
    refusals: NO_USER,
    async handle(s, ctx) {
      const user = await unblockUser(s.db, await pathUser(s, ctx), who(ctx));
      if (!user) throw notFound('No user with this id.');
      return { status: 200, body: user };
    },
  }),
  route({
    method: 'delete',
    path: '/users/:id',
    scope: 'users:write',
    summary:
      'Erase a user: the account, its factors, passkeys, sessions, grants, links, codes and queued messages. Audit rows stay under the id, now a pseudonym, without identifier, IP or browser.',
    params: ID,
    ok: { 204: { description: 'Erased.' } },
    refusals: NO_USER,
    async handle(s, ctx) {
      if (!(await eraseUser(s.db, await pathUser(s, ctx), who(ctx)))) throw notFound('No user with this id.');
      return { status: 204 };
    },
  }),
  route({
    method: 'get',
    path: '/users/:id/export',
    scope: 'users:read',
    summary: 'Everything Sesame holds of a user, as JSON: profile, factors (no secret), passkeys (no key), sessions, grants and recent audit events.',
    params: ID,
    ok: { 200: { description: "The user's data.", schema: ExportSchema } },
    refusals: NO_USER,
    async handle(s, ctx) {
      const data = await exportUser(s.db, await pathUser(s, ctx));
      if (!data) throw notFound('No user with this id.');
      return { status: 200, body: data };
    },
  }),
  route({
    method: 'get',
    path: '/users/:id/sessions',
    scope: 'users:read',
    summary: "A user's live sessions.",
    params: ID,
    ok: { 200: { description: 'The sessions.', schema: z.object({ sessions: z.array(SessionSchema) }) } },
    refusals: NO_USER,
    async handle(s, ctx) {
      return { status: 200, body: { sessions: await sessionsOf(s.db, await pathUser(s, ctx)) } };
    },
  }),
  route({
    method: 'delete',
    path: '/users/:id/sessions/:sessionId',
    scope: 'users:write',
    summary: 'End one session of a user with its grants and their tokens (refresh tokens included); audited as session.ended.',
    params: { ...ID, sessionId: 'The session id.' },
    ok: { 204: { description: 'Ended.' } },
    refusals: { 404: 'No such user, or the user has no live session with this id.' },
    async handle(s, ctx) {
      const userId = await pathUser(s, ctx);
      const sessionId = ctx.params.sessionId as string;
      if (!storable(sessionId) || !(await endUserSession(s.db, userId, sessionId, who(ctx)))) throw notFound('This user has no live session with this id.');
      return { status: 204 };
    },
  }),
  route({
    method: 'get',
    path: '/users/:id/grants',
    scope: 'users:read',
    summary: "A user's live grants (what each client may do for them), oldest first.",
    params: ID,
    ok: { 200: { description: 'The grants.', schema: z.object({ grants: z.array(GrantSchema) }) } },
    refusals: NO_USER,
    async handle(s, ctx) {
      return { status: 200, body: { grants: await grantsOf(s.db, await pathUser(s, ctx)) } };
    },
  }),
  route({
    method: 'delete',
    path: '/users/:id/grants/:grantId',
    scope: 'users:write',
    summary: 'Revoke one grant of a user with its tokens (refresh tokens included); audited as grant.revoked.',
    params: { ...ID, grantId: 'The grant id.' },
    ok: { 204: { description: 'Revoked.' } },
    refusals: { 404: 'No such user, or the user has no grant with this id.' },
    async handle(s, ctx) {
      const userId = await pathUser(s, ctx);
      const grantId = ctx.params.grantId as string;
      if (!storable(grantId) || !(await revokeUserGrant(s.db, userId, grantId, who(ctx)))) throw notFound('This user has no grant with this id.');
      return { status: 204 };
    },
  }),
];

function notValid(detail: string) {
  return new SesameError('invalidRequest', { detail });
}
