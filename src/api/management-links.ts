// Management API for operator links (welcome and custom sign-in links) and their revocation: the same
// operations as `sesame links`. Schema-driven routes (management-routes.ts): the zod schemas below
// validate the requests and make their OpenAPI entries.
import { z } from 'zod';
import { badRequest, notFound } from '../http/errors.js';
import { normalizeEmail } from '../passwordless/identifiers.js';
import { createOperatorLink, linkUrl, operatorLinkTtl } from '../passwordless/links.js';
import { storable } from '../storage/db.js';
import { revokeLink, revokeLinksOf } from '../storage/magic-links.js';
import { route, type ManagementRoute } from './management-routes.js';

/** An email address, normalized the way sign-in stores it (so revocation finds what creation made). */
const email = z.string({ error: 'must be a valid email address' }).transform((value, ctx) => {
  const normalized = normalizeEmail(value);
  if (!normalized) ctx.addIssue({ code: 'custom', message: 'must be a valid email address' });
  return normalized ?? z.NEVER;
});

// Open objects, as before the schemas: a key this API does not know is ignored, not refused.
const CreateBody = z.object({
  type: z.enum(['welcome', 'custom'], { error: 'must be "welcome" or "custom"' }),
  email,
  ttl: z.number({ error: 'must be a number of seconds' }).optional().describe('Seconds; custom links only, 10 s to 30 days (default: the configured lifetime).'),
  client_id: z.string().optional().describe('The client whose initiate_login_uri the link continues to.'),
});

export const LINK_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'post',
    path: '/links',
    scope: 'links:write',
    summary: 'Create a welcome or custom sign-in link.',
    params: {},
    body: CreateBody,
    ok: { 201: { description: 'The link.', schema: z.object({ uuid: z.string(), url: z.string(), expiresAt: z.iso.datetime({ offset: true }) }) } },
    refusals: { 400: 'Invalid type, email, ttl or client_id (the description names it).' },
    async handle(s, _ctx, { body }) {
      let ttl: number;
      try {
        ttl = operatorLinkTtl(body.type, body.ttl, s.config.links);
      } catch (err) {
        throw badRequest(`${(err as Error).message}.`);
      }
      const clientId = body.client_id;
      if (clientId && !(await s.provider.Client.find(clientId).catch(() => undefined))) throw badRequest(`client_id ${clientId} does not exist.`);
      const link = await createOperatorLink(s.db, s.keyring, { type: body.type, email: body.email, clientId, ttl });
      return { status: 201, body: { uuid: link.uuid, url: linkUrl(s.config.issuer, link.uuid, link.token), expiresAt: link.expiresAt.toISOString() } };
    },
  }),
  route({
    method: 'delete',
    path: '/links/:uuid',
    scope: 'links:write',
    summary: 'Revoke one live link.',
    params: { uuid: 'The link uuid.' },
    ok: { 204: { description: 'Revoked.' } },
    refusals: { 404: 'No live link with this uuid.' },
    async handle(s, ctx) {
      const uuid = ctx.params.uuid as string;
      if (!storable(uuid) || !(await revokeLink(s.db, uuid))) throw notFound('No live link with this uuid.');
      return { status: 204 };
    },
  }),
  route({
    method: 'post',
    path: '/links/revoke',
    scope: 'links:write',
    summary: 'Revoke every live link of an email address.',
    params: {},
    body: z.object({ email }),
    ok: { 200: { description: 'How many were revoked.', schema: z.object({ revoked: z.number().int() }) } },
    refusals: { 400: 'Invalid email.' },
    async handle(s, _ctx, { body }) {
      return { status: 200, body: { revoked: await revokeLinksOf(s.db, body.email) } };
    },
  }),
];
