// The management API's OpenAPI 3.1 document, served at /api/v1/openapi.json without a token (it holds
// shapes, never data) so tools can read it before they hold one. Every route is schema-driven and
// listed in management-operations.ts, which management.ts mounts and this documents: the router and
// the document cannot disagree (test/api/management-conformance.test.ts checks both ways).
import type Router from '@koa/router';
import type { Services } from '../services.js';
import { MANAGEMENT_SCOPES, managementAudience } from '../oidc/resources.js';
import { openApiPaths } from './management-routes.js';
import { managementRoutes } from './management-operations.js';

/** The document for this configuration (managementRoutes: service-client paths only while external connections run). */
export function managementOpenApi(config: Services['config']): Record<string, unknown> {
  const audience = managementAudience(config.issuer);
  return {
    openapi: '3.1.0',
    info: { title: 'Sesame management API', version: '1' },
    servers: [{ url: `${config.issuer}/api/v1` }],
    security: [{ clientCredentials: ['admin'] }],
    paths: openApiPaths(managementRoutes(config)),
    components: {
      securitySchemes: {
        clientCredentials: {
          type: 'oauth2',
          description: `A client-credentials token of a management_api client, for the audience ${audience}.`,
          flows: { clientCredentials: { tokenUrl: `${config.issuer}/oauth/token`, scopes: MANAGEMENT_SCOPES } },
        },
      },
    },
  };
}

/** Registers GET /openapi.json; call it before the router's admin check so it answers without a token. */
export function openApiRoute(router: Router, s: Pick<Services, 'config'>): void {
  const document = managementOpenApi(s.config);
  router.get('/openapi.json', function openApiDocument(ctx) {
    ctx.body = document;
  });
}
