// The management API's OpenAPI 3.1 document, served at /api/v1/openapi.json without a token (it holds
// shapes, never data) so tools can read it before they hold one. One entry per route that
// management*.ts mounts; test/api/management-openapi.test.ts fails on a route missing here. The
// schema-driven routes (management-operations.ts) bring their own entries; the clients routes are
// still written here.
import type Router from '@koa/router';
import type { Services } from '../services.js';
import { MANAGEMENT_SCOPES, managementAudience } from '../oidc/resources.js';
import { openApiPaths, securityOf } from './management-routes.js';
import { managementRoutes } from './management-operations.js';
import { scopeOf } from './admin-auth.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });
const error = (description: string) => ({ description, ...json(ref('Error')) });
const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const object = (properties: Record<string, Schema>, required = Object.keys(properties)): Schema => ({ type: 'object', properties, required, additionalProperties: false });
const openObject = (description: string): Schema => ({ type: 'object', description, additionalProperties: true });

/** An operation: its success answer plus the refusals every route shares (no token, no admin scope). */
function operation(summary: string, ok: Record<string, unknown>, more: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    summary,
    ...extra,
    responses: { ...ok, ...more, 401: error('No valid bearer token of a management client.'), 403: error('The token lacks the scope this operation needs.') },
  };
}

const CLIENT_ID = pathParam('id', 'The client id.');
/** The brand keys of a client (oidc/client-metadata.ts, README "Branding"); any other metadata is open. */
const BRAND_PROPERTIES = {
  client_name: { type: 'string', description: 'The product name on its pages and emails when it is branded.' },
  logo_uri: { type: 'string', format: 'uri', description: 'Logo on its pages and emails: https (http only on localhost), a host name or address.' },
  brand_color: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$', description: 'Primary colour, #rrggbb; pages adjust it per theme for 4.5:1 contrast.' },
  support_uri: { type: 'string', format: 'uri', description: 'Help link under its pages and emails: https (http only on localhost) or mailto:.' },
};
const clientMetadata = (description: string): Schema => ({ ...openObject(description), properties: BRAND_PROPERTIES });
const clientPaths = {
  '/clients': {
    get: operation('List config-file and stored clients (no secrets).', {
      200: { description: 'The clients.', ...json(object({ clients: { type: 'array', items: ref('Client') } })) },
    }),
    post: operation(
      'Register a client; its secret is in this answer only.',
      { 201: { description: 'The client, with client_secret.', ...json(ref('Client')) } },
      { 400: error('Invalid client metadata.'), 409: error('The id exists.') },
      { requestBody: { required: true, ...json(clientMetadata('oidc-provider client metadata with client_id.')) } },
    ),
  },
  '/clients/{id}': {
    get: operation('One client.', { 200: { description: 'The client.', ...json(ref('Client')) } }, { 404: error('No such client.') }, { parameters: [CLIENT_ID] }),
    patch: operation(
      'Change a stored client: the keys given replace, null removes.',
      { 200: { description: 'The client.', ...json(ref('Client')) } },
      { 400: error('Invalid client metadata.'), 404: error('No such client.'), 409: error('A config-file client.') },
      { parameters: [CLIENT_ID], requestBody: { required: true, ...json(clientMetadata('Client metadata changes.')) } },
    ),
    delete: operation(
      'Remove a stored client.',
      { 204: { description: 'Removed.' } },
      { 404: error('No such client.'), 409: error('A config-file client.') },
      { parameters: [CLIENT_ID] },
    ),
  },
  '/clients/{id}/rotate-secret': {
    post: operation(
      'A new secret, shown once; the old one stops working.',
      { 200: { description: 'The new secret.', ...json(object({ client_id: { type: 'string' }, client_secret: { type: 'string' } })) } },
      { 404: error('No such client.'), 409: error('A config-file client.') },
      { parameters: [CLIENT_ID] },
    ),
  },
};

const schemas = {
  Error: object({ error: { type: 'string' }, error_description: { type: 'string' } }),
  Client: clientMetadata('Client metadata, with source ("config" or "database") and createdAt; client_secret only where it was made.'),
};

type Paths = Record<string, Record<string, Record<string, unknown>>>;

/** The hand-written operations with the scope each needs (the area convention of admin-auth.ts), then the schema-driven ones. */
function withScopes(written: Paths, config: Services['config']): Paths {
  const paths: Paths = {};
  for (const [path, operations] of Object.entries(written)) {
    const template = `/api/v1${path.replace(/\{(\w+)\}/g, ':$1')}`;
    paths[path] = Object.fromEntries(
      Object.entries(operations).map(([method, op]) => [method, { ...op, security: securityOf(scopeOf(new Map(), method.toUpperCase(), template)) }]),
    );
  }
  for (const [path, operations] of Object.entries(openApiPaths(managementRoutes(config)))) paths[path] = { ...paths[path], ...operations };
  return paths;
}

/** The document for this configuration (managementRoutes: service-client paths only while external connections run). */
export function managementOpenApi(config: Services['config']): Record<string, unknown> {
  const audience = managementAudience(config.issuer);
  return {
    openapi: '3.1.0',
    info: { title: 'Sesame management API', version: '1' },
    servers: [{ url: `${config.issuer}/api/v1` }],
    security: [{ clientCredentials: ['admin'] }],
    paths: withScopes({ ...clientPaths }, config),
    components: {
      schemas,
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
