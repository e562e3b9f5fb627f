// The management API (/api/v1), JSON only: operator links (welcome, custom) and their revocation,
// the same as `sesame links` (management-links.ts); service clients of external connections (management-service-clients.ts);
// relying parties, the same as `sesame clients` (management-clients.ts); users' passkeys, the same as
// `sesame users passkeys` (management-passkeys.ts); users' second factors, the same as `sesame users mfa`
// (management-mfa.ts); users themselves: search, block, erase, export, sessions and grants
// (management-user-routes.ts); the audit log, the outbox and signing keys; its OpenAPI document
// (management-openapi.ts). Every route is schema-driven and listed in management-operations.ts.
import Router from '@koa/router';
import type { Services } from '../services.js';
import { type DeclaredScopes, requireAdmin } from './admin-auth.js';
import { mountRoutes } from './management-routes.js';
import { managementRoutes } from './management-operations.js';
import { openApiRoute } from './management-openapi.js';

export function managementRouter(s: Services): Router {
  const router = new Router({ prefix: '/api/v1' });
  // Before the admin check: the router runs matching layers in the order they were added.
  openApiRoute(router, s);
  // Filled as schema-driven routes mount; read by the check on each request.
  const declared: DeclaredScopes = new Map();
  router.use(requireAdmin(s, declared));
  mountRoutes(router, s, managementRoutes(s.config), declared);
  return router;
}
