// Relying parties registered at run time, the one set of operations behind `sesame clients` and
// /api/v1/clients. Metadata is judged by the provider the server runs (its algorithms, grants and
// Sesame's rules in client-metadata.ts), so what is stored is what will load. Config-file clients
// are listed beside them; only the config file changes those. The server finds stored clients on
// every request (oidc-provider caches a dynamic client by the hash of its metadata), so a change
// or a new secret applies to the next request, and an old secret stops working at once.
import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { LoadedConfig } from '../config/load.js';
import type { Db } from '../storage/db.js';
import { recordAudit } from '../storage/audit.js';
import { deleteClientAndTokens, findStoredClient, insertClient, listClients, replaceClientMetadata } from '../storage/clients.js';
import { clientNeedsSecret } from './internals.js';
import { ACCOUNT_CLIENT, ADMIN_CLIENT } from './first-party-clients.js';

export type RegistryProblem = 'invalid_request' | 'invalid_client_metadata' | 'conflict' | 'not_found';

/** A refusal with a reason fit to show; the CLI and the API each say it their way. */
export class ClientRegistryError extends Error {
  override name = 'ClientRegistryError';
  constructor(
    readonly problem: RegistryProblem,
    message: string,
  ) {
    super(message);
  }
}

/** A client as listed: its metadata without the secret, and where it lives. */
export type ClientView = Record<string, unknown> & { client_id: string; source: 'config' | 'database'; createdAt: string | null };

/** Changes to a stored client: `set` replaces keys (null removes one), `append` adds to lists. */
export interface ClientChanges {
  set?: Record<string, unknown>;
  append?: Record<string, string[]>;
}

export interface Registry {
  db: Db;
  config: LoadedConfig;
  provider: Provider;
  /** Who asked (`cli`, `management_api`): the audit row's reason. */
  via: string;
}

// Visible ASCII: the id travels in URLs, Basic credentials and logs.
const CLIENT_ID = /^[\x21-\x7e]{1,255}$/;
const newSecret = () => randomBytes(32).toString('base64url');

function view(metadata: Record<string, unknown>, source: ClientView['source'], createdAt: Date | null): ClientView {
  const { client_secret: _secret, ...rest } = metadata;
  return { client_id: String(metadata.client_id), source, ...rest, createdAt: createdAt?.toISOString() ?? null };
}

const configClient = (r: Registry, clientId: string) => r.config.clients.find((c) => c.client_id === clientId);

// Sesame's own pages' clients (first-party-clients.ts): changing or removing the console's would lock
// every admin out, and a stored client under either id would be shadowed by it.
const INTERNAL_IDS: ReadonlySet<string> = new Set([ACCOUNT_CLIENT.id, ADMIN_CLIENT.id]);

/** Whether the id is one of Sesame's own page clients, which no operator tool may change. */
export function isSesameClient(clientId: string): boolean {
  return INTERNAL_IDS.has(clientId);
}

function refuseInternalClient(clientId: string): void {
  if (isSesameClient(clientId)) {
    throw new ClientRegistryError('conflict', `client ${clientId} is Sesame's own (its account page or admin console sign-in) and cannot be registered, changed or removed`);
  }
}

function refuseConfigClient(r: Registry, clientId: string): void {
  refuseInternalClient(clientId);
  if (configClient(r, clientId)) {
    throw new ClientRegistryError('conflict', `client ${clientId} comes from the configuration file; edit the config file to change it`);
  }
}

export async function listRegisteredClients(r: Registry): Promise<ClientView[]> {
  const fromConfig = r.config.clients.map((c) => view(c, 'config', null));
  const stored = (await listClients(r.db)).map((c) => view(c.metadata, 'database', c.createdAt));
  return [...fromConfig, ...stored];
}

export async function getRegisteredClient(r: Registry, clientId: string): Promise<ClientView> {
  const fromConfig = configClient(r, clientId);
  if (fromConfig) return view(fromConfig, 'config', null);
  const stored = await findStoredClient(r.db, clientId);
  if (!stored) throw new ClientRegistryError('not_found', `no client ${clientId}`);
  return view(stored.metadata, 'database', stored.createdAt);
}

/** grant_types and response_types an operator left out, from what they gave (as `clients add` always did). */
function withDefaults(metadata: Record<string, unknown>): Record<string, unknown> {
  const redirects = Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris : [];
  const grants = metadata.grant_types ?? (redirects.length ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  const responseTypes = metadata.response_types ?? (Array.isArray(grants) && grants.includes('authorization_code') ? ['code'] : []);
  return { redirect_uris: redirects, ...metadata, grant_types: grants, response_types: responseTypes };
}

/** Adds or drops the secret as the metadata now needs, then lets the running provider judge it. */
async function settle(r: Registry, metadata: Record<string, unknown>): Promise<{ metadata: Record<string, unknown>; issued?: string }> {
  const result = { ...metadata };
  let issued: string | undefined;
  if (!clientNeedsSecret(r.provider, result)) delete result.client_secret;
  else if (typeof result.client_secret !== 'string') result.client_secret = issued = newSecret();
  try {
    await r.provider.Client.validate(result as never);
  } catch (err) {
    const e = err as { error_description?: string; message?: string };
    throw new ClientRegistryError('invalid_client_metadata', `invalid client: ${e.error_description ?? e.message ?? String(err)}`);
  }
  return { metadata: result, issued };
}

function plainObject(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ClientRegistryError('invalid_request', `${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function refuseSecret(metadata: Record<string, unknown>): void {
  if ('client_secret' in metadata) {
    throw new ClientRegistryError('invalid_request', 'client_secret cannot be given: Sesame generates it (shown once) and rotate-secret replaces it');
  }
}

/** Registers a client; returns its secret when it has one (shown once, never listed). */
export async function createClient(r: Registry, input: unknown): Promise<{ client_id: string; client_secret: string | null }> {
  const metadata = plainObject(input, 'the client');
  const clientId = metadata.client_id;
  if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) {
    throw new ClientRegistryError('invalid_request', 'client_id must be 1 to 255 visible ASCII characters');
  }
  refuseSecret(metadata);
  refuseInternalClient(clientId);
  if (configClient(r, clientId)) throw new ClientRegistryError('conflict', `a client ${clientId} already exists in the configuration file`);
  const settled = await settle(r, withDefaults(metadata));
  if (!(await insertClient(r.db, clientId, settled.metadata))) throw new ClientRegistryError('conflict', `a client ${clientId} already exists`);
  await recordAudit(r.db, { type: 'client.created', clientId, reason: r.via });
  return { client_id: clientId, client_secret: settled.issued ?? null };
}

/**
 * Changes a stored client and keeps its secret; a secret appears only when the change made one
 * necessary (a public client turned confidential), and goes when no longer needed.
 */
export async function updateClient(r: Registry, clientId: string, changes: ClientChanges): Promise<{ client: ClientView; client_secret: string | null }> {
  refuseConfigClient(r, clientId);
  const set = plainObject(changes.set ?? {}, 'the changes');
  if ('client_id' in set && set.client_id !== clientId) throw new ClientRegistryError('invalid_request', 'client_id cannot be changed; register a new client instead');
  refuseSecret(set);
  const stored = await findStoredClient(r.db, clientId);
  if (!stored) throw new ClientRegistryError('not_found', `no stored client ${clientId}`);
  const next: Record<string, unknown> = { ...stored.metadata };
  for (const [key, value] of Object.entries(set)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  for (const [key, values] of Object.entries(changes.append ?? {})) {
    const current = Array.isArray(next[key]) ? (next[key] as unknown[]) : [];
    next[key] = [...new Set([...current, ...values])];
  }
  // New grants without response types: those follow the grants, as on creation.
  const grantsChanged = 'grant_types' in set || 'grant_types' in (changes.append ?? {});
  if (grantsChanged && !('response_types' in set)) delete next.response_types;
  const settled = await settle(r, withDefaults({ ...next, client_id: clientId }));
  if (!(await replaceClientMetadata(r.db, clientId, stored.version, settled.metadata))) {
    throw new ClientRegistryError('conflict', `client ${clientId} was changed or removed meanwhile; try again`);
  }
  await recordAudit(r.db, { type: 'client.updated', clientId, reason: r.via });
  return { client: view(settled.metadata, 'database', stored.createdAt), client_secret: settled.issued ?? null };
}

/** Replaces a stored client's secret; the old one stops working on the next request. */
export async function rotateClientSecret(r: Registry, clientId: string): Promise<{ client_id: string; client_secret: string }> {
  refuseConfigClient(r, clientId);
  const stored = await findStoredClient(r.db, clientId);
  if (!stored) throw new ClientRegistryError('not_found', `no stored client ${clientId}`);
  if (!clientNeedsSecret(r.provider, stored.metadata)) throw new ClientRegistryError('invalid_request', `client ${clientId} is public and has no secret`);
  const secret = newSecret();
  if (!(await replaceClientMetadata(r.db, clientId, stored.version, { ...stored.metadata, client_secret: secret }))) {
    throw new ClientRegistryError('conflict', `client ${clientId} was changed or removed meanwhile; try again`);
  }
  await recordAudit(r.db, { type: 'client.secret_rotated', clientId, reason: r.via });
  return { client_id: clientId, client_secret: secret };
}

/** Removes a stored client with every grant and token issued to it (refresh tokens included). */
export async function removeClient(r: Registry, clientId: string): Promise<void> {
  refuseConfigClient(r, clientId);
  if (!(await deleteClientAndTokens(r.db, clientId))) throw new ClientRegistryError('not_found', `no stored client ${clientId}`);
  await recordAudit(r.db, { type: 'client.removed', clientId, reason: r.via });
}
