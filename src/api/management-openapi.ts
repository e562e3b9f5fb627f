// The management API's OpenAPI 3.1 document, served at /api/v1/openapi.json without a token (it holds
// shapes, never data) so tools can read it before they hold one. One entry per route that
// management*.ts mounts; test/api/management-openapi.test.ts fails on a route missing here. The
// schema-driven routes (management-routes.ts) bring their own entries; the rest are written here.
import type Router from '@koa/router';
import type { Services } from '../services.js';
import { MANAGEMENT_SCOPES, managementAudience } from '../oidc/resources.js';
import { openApiPaths, securityOf } from './management-routes.js';
import { USER_ROUTES } from './management-user-routes.js';
import { ACTION_ROUTES } from './management-actions.js';
import { CLIENT_ROUTES } from './management-clients.js';
import { AUDIT_ROUTES } from './management-audit.js';
import { OUTBOX_ROUTES } from './management-outbox.js';
import { KEY_ROUTES } from './management-keys.js';
import { scopeOf } from './admin-auth.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });
const error = (description: string) => ({ description, ...json(ref('Error')) });
const pathParam = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const object = (properties: Record<string, Schema>, required = Object.keys(properties)): Schema => ({ type: 'object', properties, required, additionalProperties: false });
const openObject = (description: string): Schema => ({ type: 'object', description, additionalProperties: true });
const DATE = { type: 'string', format: 'date-time' };
const NULLABLE_DATE = { type: ['string', 'null'], format: 'date-time' };

/** An operation: its success answer plus the refusals every route shares (no token, no admin scope). */
function operation(summary: string, ok: Record<string, unknown>, more: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    summary,
    ...extra,
    responses: { ...ok, ...more, 401: error('No valid bearer token of a management client.'), 403: error('The token lacks the scope this operation needs.') },
  };
}

const USER_ID = pathParam('id', 'The user id.');
const NO_USER = { 404: error('No user with this id.') };

const passkeyPaths = {
  '/users/{id}/passkeys': {
    get: operation(
      "List a user's passkeys, newest first.",
      { 200: { description: 'The passkeys.', ...json(object({ passkeys: { type: 'array', items: ref('Passkey') } })) } },
      NO_USER,
      {
        parameters: [USER_ID],
      },
    ),
    delete: operation(
      'Remove every passkey of a user (a lost device). Each removal is audited (passkey.removed); codes and sessions stay.',
      { 200: { description: 'The ids removed.', ...json(object({ removed: { type: 'array', items: { type: 'string' } } })) } },
      NO_USER,
      { parameters: [USER_ID] },
    ),
  },
  '/users/{id}/passkeys/{passkeyId}': {
    delete: operation(
      'Remove one passkey of a user (audited as passkey.removed).',
      { 204: { description: 'Removed.' } },
      { 404: error('No such user, or the user has no passkey with this id.') },
      {
        parameters: [USER_ID, pathParam('passkeyId', 'The passkey (credential) id, base64url.')],
      },
    ),
  },
};

const AUTHENTICATOR_ID = pathParam('authenticatorId', 'The authenticator id, `<type>|dev_<random>` (the `|` URL-encoded).');
const authenticatorPaths = {
  '/users/{id}/authenticators': {
    get: operation(
      "List a user's second factors (authenticators), oldest first; no secret.",
      { 200: { description: 'The authenticators.', ...json(object({ authenticators: { type: 'array', items: ref('Authenticator') } })) } },
      NO_USER,
      { parameters: [USER_ID] },
    ),
    delete: operation(
      'Reset: remove every second factor and recovery code of a user (audited as mfa.reset). Passkeys and codes stay.',
      { 200: { description: 'The ids removed.', ...json(object({ removed: { type: 'array', items: { type: 'string' } } })) } },
      NO_USER,
      { parameters: [USER_ID] },
    ),
  },
  '/users/{id}/authenticators/{authenticatorId}': {
    delete: operation(
      'Remove one second factor of a user (audited as mfa.removed); a recovery-code authenticator takes its codes with it.',
      { 204: { description: 'Removed.' } },
      { 404: error('No such user, or the user has no authenticator with this id.') },
      { parameters: [USER_ID, AUTHENTICATOR_ID] },
    ),
  },
};

const linkPaths = {
  '/links': {
    post: operation(
      'Create a welcome or custom sign-in link.',
      { 201: { description: 'The link.', ...json(object({ uuid: { type: 'string' }, url: { type: 'string' }, expiresAt: DATE })) } },
      { 400: error('Invalid type, email, ttl or client_id.') },
      {
        requestBody: {
          required: true,
          ...json(object({ type: { enum: ['welcome', 'custom'] }, email: { type: 'string' }, ttl: { type: 'number' }, client_id: { type: 'string' } }, ['type', 'email'])),
        },
      },
    ),
  },
  '/links/{uuid}': {
    delete: operation(
      'Revoke one live link.',
      { 204: { description: 'Revoked.' } },
      { 404: error('No live link with this uuid.') },
      { parameters: [pathParam('uuid', 'The link uuid.')] },
    ),
  },
  '/links/revoke': {
    post: operation(
      'Revoke every live link of an email address.',
      { 200: { description: 'How many were revoked.', ...json(object({ revoked: { type: 'integer' } })) } },
      { 400: error('Invalid email.') },
      { requestBody: { required: true, ...json(object({ email: { type: 'string' } })) } },
    ),
  },
};

const SERVICE_CLIENT_ID = pathParam('id', 'The service client id.');
const KEYS = { 201: { description: 'The access key, shown once.', ...json(object({ clientId: { type: 'string' }, keyId: { type: 'string' }, accessKey: { type: 'string' } })) } };
const serviceClientPaths = {
  '/service-clients': {
    get: operation(
      'List service clients of external connections.',
      { 200: { description: 'The service clients.', ...json(object({ serviceClients: { type: 'array', items: openObject('A service client and its keys.') } })) } },
      {},
      {
        parameters: [{ name: 'connection', in: 'query', required: false, schema: { type: 'string' } }],
      },
    ),
    post: operation(
      'Create a service client.',
      KEYS,
      { 400: error('Not an external connection.') },
      {
        requestBody: { required: true, ...json(object({ connection: { type: 'string' }, allow_profile: { type: 'boolean' }, name: { type: 'string' } }, ['connection'])) },
      },
    ),
  },
  '/service-clients/{id}': {
    delete: operation(
      'Revoke a service client.',
      { 204: { description: 'Revoked.' } },
      { 404: error('No live service client with this id.') },
      { parameters: [SERVICE_CLIENT_ID] },
    ),
  },
  '/service-clients/{id}/keys': {
    post: operation('A new access key.', KEYS, { 404: error('No live service client with this id.') }, { parameters: [SERVICE_CLIENT_ID] }),
  },
  '/service-clients/{id}/keys/{kid}': {
    delete: operation(
      'Revoke one key.',
      { 204: { description: 'Revoked.' } },
      { 404: error('No live key with this id for this service client.') },
      {
        parameters: [SERVICE_CLIENT_ID, pathParam('kid', 'The key id.')],
      },
    ),
  },
};

const schemas = {
  Error: object({ error: { type: 'string' }, error_description: { type: 'string' } }),
  Passkey: object({
    id: { type: 'string', description: 'Credential id, base64url.' },
    name: { type: ['string', 'null'], description: "The name the user gave it (at first the provider's)." },
    authenticator: { type: ['string', 'null'], description: 'The provider its AAGUID names, when known.' },
    aaguid: { type: 'string' },
    synced: { type: 'boolean', description: 'Synced between devices (backed up); false: device-bound.' },
    transports: { type: 'array', items: { type: 'string' } },
    createdAt: DATE,
    lastUsedAt: NULLABLE_DATE,
  }),
  Authenticator: object({
    id: { type: 'string', description: '`<type>|dev_<random>`.' },
    type: { enum: ['totp', 'sms', 'email', 'recovery-code'] },
    confirmed: { type: 'boolean', description: 'False while an enrolment waits for its first code.' },
    name: { type: ['string', 'null'] },
    phoneNumber: { type: ['string', 'null'], description: 'E.164, sms factors only.' },
    email: { type: ['string', 'null'], description: 'email factors only.' },
    createdAt: DATE,
    lastUsedAt: NULLABLE_DATE,
    remaining: { type: ['integer', 'null'], description: 'Unused recovery codes (recovery-code only).' },
  }),
};

type Paths = Record<string, Record<string, Record<string, unknown>>>;

/** The hand-written operations with the scope each needs (the area convention of admin-auth.ts), then the schema-driven ones. */
function withScopes(written: Paths): Paths {
  const paths: Paths = {};
  for (const [path, operations] of Object.entries(written)) {
    const template = `/api/v1${path.replace(/\{(\w+)\}/g, ':$1')}`;
    paths[path] = Object.fromEntries(
      Object.entries(operations).map(([method, op]) => [method, { ...op, security: securityOf(scopeOf(new Map(), method.toUpperCase(), template)) }]),
    );
  }
  for (const [path, operations] of Object.entries(openApiPaths([...ACTION_ROUTES, ...USER_ROUTES, ...CLIENT_ROUTES]))) paths[path] = { ...paths[path], ...operations };
  for (const [path, operations] of Object.entries(openApiPaths(AUDIT_ROUTES))) paths[path] = { ...paths[path], ...operations };
  for (const [path, operations] of Object.entries(openApiPaths([...OUTBOX_ROUTES, ...KEY_ROUTES]))) paths[path] = { ...paths[path], ...operations };
  return paths;
}

/** The document for this configuration: service-client paths only while external connections run. */
export function managementOpenApi(config: Services['config']): Record<string, unknown> {
  const audience = managementAudience(config.issuer);
  return {
    openapi: '3.1.0',
    info: { title: 'Sesame management API', version: '1' },
    servers: [{ url: `${config.issuer}/api/v1` }],
    security: [{ clientCredentials: ['admin'] }],
    paths: withScopes({
      ...linkPaths,
      ...(config.features.externalConnections.enabled ? serviceClientPaths : {}),
      ...passkeyPaths,
      ...authenticatorPaths,
    }),
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
