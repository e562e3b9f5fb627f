// The management API (/api/v1), JSON only: operator links (welcome, custom) and their revocation,
// the same as `sesame links`; service clients of external connections (management-service-clients.ts);
// relying parties, the same as `sesame clients` (management-clients.ts, schema-driven); users' passkeys, the same as
// `sesame users passkeys` (management-passkeys.ts); users' second factors, the same as `sesame users mfa`
// (management-mfa.ts); users themselves: search, block, erase, export, sessions and grants
// (management-user-routes.ts, schema-driven); its OpenAPI document (management-openapi.ts).
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Services } from '../services.js';
import { storable } from '../storage/db.js';
import { badRequest, notFound } from '../http/errors.js';
import { normalizeEmail } from '../passwordless/identifiers.js';
import { createOperatorLink, linkUrl, operatorLinkTtl } from '../passwordless/links.js';
import { revokeLink, revokeLinksOf } from '../storage/magic-links.js';
import { type DeclaredScopes, requireAdmin } from './admin-auth.js';
import { mountRoutes } from './management-routes.js';
import { USER_ROUTES } from './management-user-routes.js';
import { serviceClientRoutes } from './management-service-clients.js';
import { CLIENT_ROUTES } from './management-clients.js';
import { userPasskeyRoutes } from './management-passkeys.js';
import { userMfaRoutes } from './management-mfa.js';
import { ACTION_ROUTES } from './management-actions.js';
import { AUDIT_ROUTES } from './management-audit.js';
import { OUTBOX_ROUTES } from './management-outbox.js';
import { KEY_ROUTES } from './management-keys.js';
import { openApiRoute } from './management-openapi.js';

export function managementRouter(s: Services): Router {
  const router = new Router({ prefix: '/api/v1' });
  // Before the admin check: the router runs matching layers in the order they were added.
  openApiRoute(router, s);
  // Filled as schema-driven routes mount; read by the check on each request.
  const declared: DeclaredScopes = new Map();
  router.use(requireAdmin(s, declared));
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' });

  router.post('/links', json, async function createLink(ctx) {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const type = body.type;
    if (type !== 'welcome' && type !== 'custom') throw badRequest('type must be "welcome" or "custom".');
    const email = normalizeEmail(body.email);
    if (!email) throw badRequest('email must be a valid email address.');
    if (body.ttl !== undefined && typeof body.ttl !== 'number') throw badRequest('ttl must be a number of seconds.');
    let ttl: number;
    try {
      ttl = operatorLinkTtl(type, body.ttl as number | undefined, s.config.links);
    } catch (err) {
      throw badRequest(`${(err as Error).message}.`);
    }
    const clientId = typeof body.client_id === 'string' ? body.client_id : undefined;
    if (clientId && !(await s.provider.Client.find(clientId).catch(() => undefined))) throw badRequest(`client_id ${clientId} does not exist.`);
    const link = await createOperatorLink(s.db, s.keyring, { type, email, clientId, ttl });
    ctx.status = 201;
    ctx.body = { uuid: link.uuid, url: linkUrl(s.config.issuer, link.uuid, link.token), expiresAt: link.expiresAt.toISOString() };
  });

  router.delete('/links/:uuid', async function revokeOne(ctx) {
    if (!storable(ctx.params.uuid!) || !(await revokeLink(s.db, ctx.params.uuid!))) throw notFound('No live link with this uuid.');
    ctx.status = 204;
  });

  router.post('/links/revoke', json, async function revokeAllOf(ctx) {
    const email = normalizeEmail((ctx.request.body as Record<string, unknown> | undefined)?.email);
    if (!email) throw badRequest('email must be a valid email address.');
    ctx.body = { revoked: await revokeLinksOf(s.db, email) };
  });

  if (s.config.features.externalConnections.enabled) serviceClientRoutes(router, s);
  userPasskeyRoutes(router, s);
  userMfaRoutes(router, s);
  mountRoutes(router, s, [...ACTION_ROUTES, ...USER_ROUTES, ...CLIENT_ROUTES], declared);
  mountRoutes(router, s, AUDIT_ROUTES, declared);
  mountRoutes(router, s, [...OUTBOX_ROUTES, ...KEY_ROUTES], declared);
  return router;
}
