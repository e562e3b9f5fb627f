// Management API for relying parties: the same operations as `sesame clients` (oidc/client-registry.ts),
// JSON in and out. A secret appears only in the answer that made it; config-file clients are listed
// with "source":"config" and refused for changes (409).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { bodyParser } from '@koa/bodyparser';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { storable } from '../storage/db.js';
import {
  ClientRegistryError,
  type Registry,
  createClient,
  getRegisteredClient,
  listRegisteredClients,
  removeClient,
  rotateClientSecret,
  updateClient,
} from '../oidc/client-registry.js';

const ERROR_OF = { invalid_request: 'invalidRequest', invalid_client_metadata: 'invalidClientMetadata', conflict: 'conflict', not_found: 'notFound' } as const;

/** Runs a registry operation, its refusals as our JSON errors. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ClientRegistryError) throw new SesameError(ERROR_OF[err.problem], { detail: `${err.message}.` });
    throw err;
  }
}

export function clientRoutes(router: Router, s: Services): void {
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' });
  // The provider is rebuilt when signing keys rotate, so take the current one per request.
  const registry = (): Registry => ({ db: s.db, config: s.config, provider: s.provider, via: 'management_api' });
  const id = (ctx: Context) => {
    const clientId = ctx.params.id as string;
    if (!storable(clientId)) throw new SesameError('notFound', { detail: 'No client with this id.' });
    return clientId;
  };

  router.get('/clients', async function listAll(ctx) {
    ctx.body = { clients: await answer(() => listRegisteredClients(registry())) };
  });

  router.get('/clients/:id', async function getOne(ctx) {
    ctx.body = await answer(() => getRegisteredClient(registry(), id(ctx)));
  });

  router.post('/clients', json, async function createOne(ctx) {
    const created = await answer(() => createClient(registry(), ctx.request.body));
    ctx.status = 201;
    ctx.body = { ...(await answer(() => getRegisteredClient(registry(), created.client_id))), client_secret: created.client_secret };
  });

  router.patch('/clients/:id', json, async function changeOne(ctx) {
    const updated = await answer(() => updateClient(registry(), id(ctx), { set: ctx.request.body as Record<string, unknown> }));
    ctx.body = { ...updated.client, ...(updated.client_secret && { client_secret: updated.client_secret }) };
  });

  router.post('/clients/:id/rotate-secret', async function rotateSecret(ctx) {
    ctx.body = await answer(() => rotateClientSecret(registry(), id(ctx)));
  });

  router.delete('/clients/:id', async function removeOne(ctx) {
    await answer(() => removeClient(registry(), id(ctx)));
    ctx.status = 204;
  });
}
