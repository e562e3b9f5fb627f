// `sesame clients add|list|remove`: relying parties kept in the database.
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { sesameClientMetadata } from '../oidc/client-metadata.js';
import { deleteClient, insertClient, listClients } from '../storage/clients.js';
import { type Command, UsageError, output, withDb } from './common.js';

/** Lets oidc-provider validate the metadata exactly as it will when the client is used. */
async function validateMetadata(issuer: string, metadata: Record<string, unknown>): Promise<void> {
  // The probe has no adapter or keys of its own; its development-only warnings would reach stderr.
  const warn = console.warn;
  console.warn = () => undefined;
  let probe: Provider;
  try {
    probe = new Provider(issuer, {
      clients: [metadata as never],
      extraClientMetadata: sesameClientMetadata,
      features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } },
    });
  } finally {
    console.warn = warn;
  }
  try {
    await probe.Client.find(String(metadata.client_id));
  } catch (err) {
    const e = err as { error_description?: string; message: string };
    throw new UsageError(`invalid client: ${e.error_description ?? e.message}`);
  }
}

export const clientsCommand: Command = {
  summary: [
    'Manage relying parties stored in the database (config-file clients are listed by the config).',
    '  add     --id <id> --redirect-uri <uri> [...]   prints the client secret once',
    '  list    lists stored clients',
    '  remove  <id>',
  ].join('\n'),
  usage: 'add|list|remove [options]',
  options: {
    id: { type: 'string' },
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    grant: { type: 'string', multiple: true },
    public: { type: 'boolean' },
    'first-party': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const [action, target] = positionals;
    const json = values.json === true;
    if (action === 'list') {
      const clients = await withDb((db) => listClients(db));
      const rows = clients.map((c) => ({ client_id: c.clientId, redirect_uris: c.metadata.redirect_uris, createdAt: c.createdAt }));
      return output(json, { clients: rows }, rows.length ? rows.map((r) => `${r.client_id}\t${(r.redirect_uris as string[]).join(' ')}`) : ['no clients']);
    }
    if (action === 'remove') {
      if (!target) throw new UsageError('clients remove: give the client id');
      const removed = await withDb((db) => deleteClient(db, target));
      if (!removed) throw new UsageError(`clients remove: no stored client ${target}`);
      return output(json, { removed: target }, [`removed ${target}`]);
    }
    if (action !== 'add') throw new UsageError('clients: expected add, list or remove');
    const clientId = values.id as string | undefined;
    if (!clientId) throw new UsageError('clients add: --id is required');
    const redirectUris = (values['redirect-uri'] as string[] | undefined) ?? [];
    const grants = (values.grant as string[] | undefined) ?? (redirectUris.length ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
    const isPublic = values.public === true;
    const secret = isPublic ? undefined : randomBytes(32).toString('base64url');
    const metadata: Record<string, unknown> = {
      client_id: clientId,
      ...(values.name ? { client_name: values.name } : {}),
      ...(secret ? { client_secret: secret } : { token_endpoint_auth_method: 'none' }),
      redirect_uris: redirectUris,
      post_logout_redirect_uris: (values['post-logout-redirect-uri'] as string[] | undefined) ?? [],
      grant_types: grants,
      response_types: grants.includes('authorization_code') ? ['code'] : [],
      first_party: values['first-party'] === true,
    };
    await withDb(async (db, config) => {
      await validateMetadata(config.issuer, metadata);
      if (config.clients.some((c) => c.client_id === clientId) || !(await insertClient(db, clientId, metadata))) {
        throw new UsageError(`clients add: a client ${clientId} already exists`);
      }
    });
    output(json, { client_id: clientId, client_secret: secret ?? null }, [
      `added client ${clientId}`,
      ...(secret ? [`client_secret: ${secret}`, '(shown once; store it now)'] : ['public client: PKCE required']),
    ]);
  },
};
