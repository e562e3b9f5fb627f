// Management API for the service clients of external connections: the same operations as
// `sesame service-clients`, JSON in and out. Access keys appear only in the create/rotate answers.
import type Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Services } from '../services.js';
import { storable } from '../storage/db.js';
import { externalConnection } from '../config/connections.js';
import { badRequest, notFound } from '../http/errors.js';
import { createServiceClient, rotateServiceClient } from '../connections/external.js';
import { findServiceClient, listServiceClients, revokeService } from '../storage/external.js';

export function serviceClientRoutes(router: Router, s: Services): void {
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' });
  const external = (id: unknown) => externalConnection(s.config, id);

  router.post('/service-clients', json, async function createOne(ctx) {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const connection = external(body.connection);
    if (!connection) throw badRequest(`connection must name an external connection (got ${JSON.stringify(body.connection ?? null)}).`);
    ctx.status = 201;
    ctx.body = await createServiceClient(s.db, connection, { allowProfile: body.allow_profile === true, name: typeof body.name === 'string' ? body.name : undefined });
  });

  router.get('/service-clients', async function listAll(ctx) {
    ctx.body = { serviceClients: await listServiceClients(s.db, typeof ctx.query.connection === 'string' ? ctx.query.connection : undefined) };
  });

  router.post('/service-clients/:id/keys', json, async function rotate(ctx) {
    const client = storable(ctx.params.id!) ? await findServiceClient(s.db, ctx.params.id!) : null;
    const connection = client && !client.revokedAt ? external(client.connectionId) : undefined;
    if (!client || !connection) throw notFound('No live service client with this id.');
    ctx.status = 201;
    ctx.body = await rotateServiceClient(s.db, connection, client.id, (ctx.request.body as Record<string, unknown> | undefined)?.allow_profile === true);
  });

  router.delete('/service-clients/:id', async function revokeClient(ctx) {
    if (!storable(ctx.params.id!) || !(await revokeService(s.db, ctx.params.id!))) throw notFound('No live service client with this id.');
    ctx.status = 204;
  });

  router.delete('/service-clients/:id/keys/:kid', async function revokeKey(ctx) {
    if (!storable(ctx.params.id! + ctx.params.kid!) || !(await revokeService(s.db, ctx.params.id!, ctx.params.kid)))
      throw notFound('No live key with this id for this service client.');
    ctx.status = 204;
  });
}
