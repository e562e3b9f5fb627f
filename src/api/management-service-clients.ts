// Management API for the service clients of external connections: the same operations as
// `sesame service-clients`, JSON in and out. Access keys appear only in the create/rotate answers.
// Schema-driven routes (management-routes.ts), mounted only while external connections run.
import { z } from 'zod';
import { storable } from '../storage/db.js';
import { externalConnection } from '../config/connections.js';
import { badRequest, notFound } from '../http/errors.js';
import { createServiceClient, rotateServiceClient } from '../connections/external.js';
import { findServiceClient, listServiceClients, revokeService } from '../storage/external.js';
import { route, type ManagementRoute } from './management-routes.js';

const date = z.iso.datetime({ offset: true });
const IssuedKey = z.object({ clientId: z.string(), keyId: z.string(), accessKey: z.string().describe('`<clientId>.<keyId>.<accountId>.<private key>`; shown once.') });
const ServiceClient = z.object({
  clientId: z.string(),
  connectionId: z.string(),
  createdAt: date,
  revokedAt: date.nullable(),
  keys: z.array(z.object({ keyId: z.string(), createdAt: date, revokedAt: date.nullable(), allowProfile: z.boolean() })),
});
const allowProfile = z.boolean().optional().describe('The key may also send profile claims (name, phone).');
const ID = { id: 'The service client id.' };
const NO_CLIENT = 'No live service client with this id.';

export const SERVICE_CLIENT_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'post',
    path: '/service-clients',
    scope: 'service-clients:write',
    summary: 'Create a service client.',
    params: {},
    body: z.object({
      connection: z.string({ error: 'must name an external connection' }).describe('An external connection id.'),
      allow_profile: allowProfile,
      name: z.string().optional(),
    }),
    ok: { 201: { description: 'The access key, shown once.', schema: IssuedKey } },
    refusals: { 400: 'Not an external connection, or an invalid body.' },
    async handle(s, _ctx, { body }) {
      const connection = externalConnection(s.config, body.connection);
      if (!connection) throw badRequest(`connection must name an external connection (got ${JSON.stringify(body.connection)}).`);
      return { status: 201, body: await createServiceClient(s.db, connection, { allowProfile: body.allow_profile === true, name: body.name }) };
    },
  }),
  route({
    method: 'get',
    path: '/service-clients',
    scope: 'service-clients:read',
    summary: 'List service clients of external connections, with their keys (no secret).',
    params: {},
    query: z.object({ connection: z.string().optional().describe('Only the service clients of this connection.') }),
    ok: { 200: { description: 'The service clients.', schema: z.object({ serviceClients: z.array(ServiceClient) }) } },
    refusals: { 400: 'A parameter is not valid (the description names it).' },
    async handle(s, _ctx, { query }) {
      return { status: 200, body: { serviceClients: await listServiceClients(s.db, query.connection) } };
    },
  }),
  route({
    method: 'post',
    path: '/service-clients/:id/keys',
    scope: 'service-clients:write',
    summary: 'A new access key (the others stay valid until revoked).',
    params: ID,
    body: z.object({ allow_profile: allowProfile }),
    ok: { 201: { description: 'The access key, shown once.', schema: IssuedKey } },
    refusals: { 400: 'An invalid body.', 404: NO_CLIENT },
    async handle(s, ctx, { body }) {
      const id = ctx.params.id as string;
      const client = storable(id) ? await findServiceClient(s.db, id) : null;
      const connection = client && !client.revokedAt ? externalConnection(s.config, client.connectionId) : undefined;
      if (!client || !connection) throw notFound(NO_CLIENT);
      return { status: 201, body: await rotateServiceClient(s.db, connection, client.id, body.allow_profile === true) };
    },
  }),
  route({
    method: 'delete',
    path: '/service-clients/:id',
    scope: 'service-clients:write',
    summary: 'Revoke a service client with all its keys.',
    params: ID,
    ok: { 204: { description: 'Revoked.' } },
    refusals: { 404: NO_CLIENT },
    async handle(s, ctx) {
      const id = ctx.params.id as string;
      if (!storable(id) || !(await revokeService(s.db, id))) throw notFound(NO_CLIENT);
      return { status: 204 };
    },
  }),
  route({
    method: 'delete',
    path: '/service-clients/:id/keys/:kid',
    scope: 'service-clients:write',
    summary: 'Revoke one key.',
    params: { ...ID, kid: 'The key id.' },
    ok: { 204: { description: 'Revoked.' } },
    refusals: { 404: 'No live key with this id for this service client.' },
    async handle(s, ctx) {
      const { id, kid } = ctx.params as { id: string; kid: string };
      if (!storable(id + kid) || !(await revokeService(s.db, id, kid))) throw notFound('No live key with this id for this service client.');
      return { status: 204 };
    },
  }),
];
