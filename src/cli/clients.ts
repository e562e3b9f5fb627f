// `sesame clients add|update|rotate-secret|list|remove`: relying parties kept in the database, through
// the same operations as /api/v1/clients (oidc/client-registry.ts); config-file clients are listed.
import type { LoadedConfig } from '../config/load.js';
import type { Db } from '../storage/db.js';
import type Provider from 'oidc-provider';
import {
  ClientRegistryError,
  type ClientChanges,
  type Registry,
  createClient,
  listRegisteredClients,
  removeClient,
  rotateClientSecret,
  updateClient,
} from '../oidc/client-registry.js';
import { type Command, UsageError, output, withProvider } from './common.js';

// Flags that fill one metadata list each: set on add, added to the list on update.
const LIST_FLAGS = { 'redirect-uri': 'redirect_uris', 'post-logout-redirect-uri': 'post_logout_redirect_uris', 'web-origin': 'web_origins', grant: 'grant_types' } as const;

// Flags that set one brand key each (see clientBrand in oidc/client-metadata.ts).
const BRAND_FLAGS = { 'logo-uri': 'logo_uri', 'brand-color': 'brand_color', 'support-uri': 'support_uri' } as const;

function parseMetadata(text: unknown): Record<string, unknown> {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(text));
  } catch (err) {
    throw new UsageError(`--metadata: not valid JSON (${(err as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError('--metadata: expected a JSON object of client metadata');
  return parsed as Record<string, unknown>;
}

/** The flags as metadata changes; `--metadata` keys replace, and a key given both ways is refused. */
function changesFrom(values: Record<string, unknown>, listsAppend: boolean): ClientChanges {
  const metadata = parseMetadata(values.metadata);
  const set: Record<string, unknown> = {};
  const append: Record<string, string[]> = {};
  const take = (flag: string, key: string, value: unknown, into: Record<string, unknown>) => {
    if (key in metadata) throw new UsageError(`--${flag} and --metadata both set ${key}; use one`);
    into[key] = value;
  };
  for (const [flag, key] of Object.entries(LIST_FLAGS)) {
    const given = values[flag] as string[] | undefined;
    if (given) take(flag, key, given, listsAppend ? append : set);
  }
  if (values.name !== undefined) take('name', 'client_name', values.name, set);
  if (values.public === true) take('public', 'token_endpoint_auth_method', 'none', set);
  if (values['first-party'] === true) take('first-party', 'first_party', true, set);
  for (const [flag, key] of Object.entries(BRAND_FLAGS)) if (values[flag] !== undefined) take(flag, key, values[flag], set);
  return { set: { ...metadata, ...set }, append };
}

async function withRegistry<T>(fn: (r: Registry) => Promise<T>): Promise<T> {
  return withProvider((db: Db, config: LoadedConfig, provider: Provider) => fn({ db, config, provider, via: 'cli' }));
}

export const clientsCommand: Command = {
  summary: [
    'Manage relying parties stored in the database; config-file clients are listed (change those in the file).',
    '  add --id <id> [options]        prints the client secret once (none with --public: PKCE instead)',
    '  update <id> [options]          keeps the secret; list flags add to the lists, --name and',
    '                                 --metadata keys replace (null removes a key)',
    '  rotate-secret <id>             prints the new secret once; the old one stops working at once',
    '  list                           stored and config clients, with their source',
    '  remove <id>',
    "  --metadata '<json>'            any oidc-provider client metadata, e.g.",
    '                                 \'{"token_endpoint_auth_method":"client_secret_post","id_token_signed_response_alg":"ES256"}\'',
    '  --web-origin <origin>          browser origin allowed to call /oauth/token and the APIs (CORS)',
    '  --logo-uri, --brand-color, --support-uri   its brand on the sign-in pages and emails (https logo,',
    '                                 #rrggbb colour, https or mailto: help link; the name is --name)',
  ].join('\n'),
  usage: 'add|update|rotate-secret|list|remove [<id>] [options]',
  options: {
    id: { type: 'string' },
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'web-origin': { type: 'string', multiple: true },
    grant: { type: 'string', multiple: true },
    public: { type: 'boolean' },
    'first-party': { type: 'boolean' },
    'logo-uri': { type: 'string' },
    'brand-color': { type: 'string' },
    'support-uri': { type: 'string' },
    metadata: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const [action, target] = positionals;
    const json = values.json === true;
    try {
      if (action === 'list') {
        const clients = await withRegistry(listRegisteredClients);
        const lines = clients.map((c) => `${c.client_id}\t${c.source}\t${((c.redirect_uris as string[] | undefined) ?? []).join(' ')}`);
        return output(json, { clients }, lines.length ? lines : ['no clients']);
      }
      if (action === 'add') {
        const clientId = values.id as string | undefined;
        if (!clientId) throw new UsageError('clients add: --id is required');
        const { set, append } = changesFrom(values, false);
        if ('client_id' in set!) throw new UsageError('clients add: give the id with --id, not in --metadata');
        const added = await withRegistry((r) => createClient(r, { ...set, ...append, client_id: clientId }));
        return output(json, added, [
          `added client ${clientId}`,
          ...(added.client_secret ? [`client_secret: ${added.client_secret}`, '(shown once; store it now)'] : ['public client: PKCE required']),
        ]);
      }
      if (!['update', 'rotate-secret', 'remove'].includes(action ?? '')) throw new UsageError('clients: expected add, update, rotate-secret, list or remove');
      if (!target) throw new UsageError(`clients ${action}: give the client id`);
      if (action === 'update') {
        const changes = changesFrom(values, true);
        if (!Object.keys(changes.set!).length && !Object.keys(changes.append!).length) throw new UsageError('clients update: nothing to change; give options (see --help)');
        const updated = await withRegistry((r) => updateClient(r, target, changes));
        return output(json, { client_id: target, client_secret: updated.client_secret }, [
          `updated client ${target}`,
          ...(updated.client_secret ? [`client_secret: ${updated.client_secret}`, '(now confidential; shown once; store it now)'] : []),
        ]);
      }
      if (action === 'rotate-secret') {
        const rotated = await withRegistry((r) => rotateClientSecret(r, target));
        return output(json, rotated, [`new secret for ${target}`, `client_secret: ${rotated.client_secret}`, '(shown once; the old secret no longer works)']);
      }
      await withRegistry((r) => removeClient(r, target));
      return output(json, { removed: target }, [`removed ${target}`]);
    } catch (err) {
      if (err instanceof ClientRegistryError) throw new UsageError(`clients ${action}: ${err.message}`);
      throw err;
    }
  },
};
