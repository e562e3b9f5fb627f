// Management API for relying parties: the same operations as `sesame clients` (oidc/client-registry.ts),
// JSON in and out, as schema-driven declarations (management-routes.ts) whose zod schemas validate the
// request's shape and make the OpenAPI entries. The metadata's meaning (URIs, algorithms, Sesame's rules)
// stays with the registry, which lets the running provider judge it. A secret appears only in the answer
// that made it; config-file clients are listed with "source":"config" and refused for changes (409), and
// Sesame's own page clients refused outright.
import { z } from 'zod';
import type { Context } from 'koa';
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
import { route, type ManagementRoute } from './management-routes.js';

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

// The provider is rebuilt when signing keys rotate, so take the current one per request.
const registry = (s: Services): Registry => ({ db: s.db, config: s.config, provider: s.provider, via: 'management_api' });

function pathClient(ctx: Context): string {
  const clientId = ctx.params.id as string;
  if (!storable(clientId)) throw new SesameError('notFound', { detail: 'No client with this id.' });
  return clientId;
}

const uris = z.array(z.string());
/**
 * The metadata keys Sesame knows, each with its type; any other oidc-provider metadata passes through
 * to the provider's own validation. `nullable` on PATCH, where null removes a key.
 */
function metadataFields(nullable: boolean) {
  const f = <T extends z.ZodType>(schema: T, description: string) => (nullable ? schema.nullable() : schema).optional().describe(description);
  return {
    client_name: f(z.string(), 'The product name on its pages and emails.'),
    logo_uri: f(z.string(), 'Logo on its pages and emails: https (http only on localhost), a host name or address.'),
    brand_color: f(z.string(), 'Primary colour, #rrggbb; pages adjust it per theme for 4.5:1 contrast.'),
    support_uri: f(z.string(), 'Help link under its pages and emails: https (http only on localhost) or mailto:.'),
    redirect_uris: f(uris, 'Exact redirect URIs of the code flow.'),
    post_logout_redirect_uris: f(uris, 'Where /oidc/logout may send the browser back to.'),
    web_origins: f(uris, "Browser origins that may call Sesame's APIs for this client."),
    grant_types: f(z.array(z.string()), 'Default: authorization_code and refresh_token with redirect URIs, else client_credentials.'),
    response_types: f(z.array(z.string()), 'Default: code when grant_types has authorization_code.'),
    token_endpoint_auth_method: f(z.string(), '`none` for a public client (no secret); client_secret_basic by default.'),
    first_party: f(z.boolean(), 'Skips the consent page.'),
    management_api: f(z.boolean(), 'May obtain management API tokens (client credentials only).'),
    trust_forwarded_for: f(z.boolean(), "Trusts Auth0's auth0-forwarded-for header (confidential clients only)."),
    offer_passkeys: f(z.boolean(), 'Offers a passkey after a code or link sign-in (default true).'),
  };
}
const bodyError = { error: 'must be a JSON object' };
const CreateBody = z.looseObject(
  { client_id: z.string({ error: 'must be 1 to 255 visible ASCII characters' }).describe('The new client id: 1 to 255 visible ASCII characters.'), ...metadataFields(false) },
  bodyError,
);
const PatchBody = z.looseObject(metadataFields(true), bodyError);

export const ClientSchema = z.looseObject({
  client_id: z.string(),
  source: z.enum(['config', 'database']).describe('Where the client lives; only database clients change here.'),
  createdAt: z.iso.datetime({ offset: true }).nullable(),
  ...metadataFields(false),
});
const SecretSchema = z.object({ client_id: z.string(), client_secret: z.string() });

const ID = { id: 'The client id.' };
const NOT_OURS = 'A config-file client (edit the config file) or one of Sesame’s own clients.';

function rotate(summary: string): ManagementRoute {
  return route({
    method: 'post',
    path: summary.startsWith('Deprecated') ? '/clients/:id/rotate-secret' : '/clients/:id/secret',
    scope: 'clients:write',
    summary,
    params: ID,
    ok: { 200: { description: 'The new secret, in this answer only.', schema: SecretSchema } },
    refusals: { 400: 'A public client (token_endpoint_auth_method none): it has no secret.', 404: 'No stored client with this id.', 409: NOT_OURS },
    async handle(s, ctx) {
      return { status: 200, body: await answer(() => rotateClientSecret(registry(s), pathClient(ctx))) };
    },
  });
}

export const CLIENT_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'get',
    path: '/clients',
    scope: 'clients:read',
    summary: 'List config-file and stored clients (no secrets).',
    params: {},
    ok: { 200: { description: 'The clients, config-file ones first, then stored ones oldest first.', schema: z.object({ clients: z.array(ClientSchema) }) } },
    async handle(s) {
      return { status: 200, body: { clients: await answer(() => listRegisteredClients(registry(s))) } };
    },
  }),
  route({
    method: 'get',
    path: '/clients/:id',
    scope: 'clients:read',
    summary: 'One client (no secret).',
    params: ID,
    ok: { 200: { description: 'The client.', schema: ClientSchema } },
    refusals: { 404: 'No client with this id.' },
    async handle(s, ctx) {
      return { status: 200, body: await answer(() => getRegisteredClient(registry(s), pathClient(ctx))) };
    },
  }),
  route({
    method: 'post',
    path: '/clients',
    scope: 'clients:write',
    summary: 'Register a client (oidc-provider metadata plus Sesame’s keys); its secret, when it has one, is in this answer only.',
    params: {},
    body: CreateBody,
    ok: { 201: { description: 'The client, with client_secret (null for a public client).', schema: ClientSchema.extend({ client_secret: z.string().nullable() }) } },
    refusals: { 400: 'The metadata is not valid (the description says why).', 409: 'The id exists, in the database, the config file or among Sesame’s own clients.' },
    async handle(s, _ctx, { body }) {
      const created = await answer(() => createClient(registry(s), body));
      const client = await answer(() => getRegisteredClient(registry(s), created.client_id));
      return { status: 201, body: { ...client, client_secret: created.client_secret } };
    },
  }),
  route({
    method: 'patch',
    path: '/clients/:id',
    scope: 'clients:write',
    summary: 'Change a stored client: the keys given replace, null removes; the secret stays (one is issued if the client turns confidential).',
    params: ID,
    body: PatchBody,
    ok: { 200: { description: 'The client; client_secret only when this change made one.', schema: ClientSchema.extend({ client_secret: z.string().optional() }) } },
    refusals: { 400: 'The changes are not valid (the description says why).', 404: 'No stored client with this id.', 409: NOT_OURS },
    async handle(s, ctx, { body }) {
      const updated = await answer(() => updateClient(registry(s), pathClient(ctx), { set: body }));
      return { status: 200, body: { ...updated.client, ...(updated.client_secret && { client_secret: updated.client_secret }) } };
    },
  }),
  rotate('A new secret, shown once; the old one stops working at once.'),
  rotate('Deprecated: POST /clients/{id}/secret does the same.'),
  route({
    method: 'delete',
    path: '/clients/:id',
    scope: 'clients:write',
    summary: 'Remove a stored client with every grant and token issued to it (refresh tokens included).',
    params: ID,
    ok: { 204: { description: 'Removed.' } },
    refusals: { 404: 'No stored client with this id.', 409: NOT_OURS },
    async handle(s, ctx) {
      await answer(() => removeClient(registry(s), pathClient(ctx)));
      return { status: 204 };
    },
  }),
];
