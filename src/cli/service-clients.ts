// `sesame service-clients create|list|rotate|revoke`: the keys operators' login services sign
// external-connection assertions with (Authress access-key format, shown once).
import type { ExternalConnection } from '../config/schema.js';
import { externalConnection } from '../config/connections.js';
import type { LoadedConfig } from '../config/load.js';
import { createServiceClient, rotateServiceClient } from '../connections/external.js';
import { findServiceClient, listServiceClients, revokeService } from '../storage/external.js';
import { type Command, UsageError, output, withDb } from './common.js';

function connectionNamed(config: LoadedConfig, id: unknown): ExternalConnection {
  const connection = externalConnection(config, id);
  if (!connection) throw new UsageError(`no external connection "${String(id ?? '')}" in the configuration`);
  return connection;
}

export const serviceClientsCommand: Command = {
  summary: [
    'Keys that sign external-connection logins (Authress access keys).',
    '  create  --connection <id> [--allow-profile] [--name <text>]   prints the access key once',
    '  list    [--connection <id>]',
    '  rotate  <clientId> [--allow-profile]   adds a second key; the first stays valid until revoked',
    '  revoke  <clientId> [--key <keyId>]',
  ].join('\n'),
  usage: 'create|list|rotate|revoke [options]',
  options: {
    connection: { type: 'string' },
    'allow-profile': { type: 'boolean' },
    name: { type: 'string' },
    key: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const [action, clientId] = positionals;
    const json = values.json === true;
    const allowProfile = values['allow-profile'] === true;
    if (action === 'create') {
      const issued = await withDb((db, config) => createServiceClient(db, connectionNamed(config, values.connection), { allowProfile, name: values.name as string | undefined }));
      return output(json, issued, [`service client ${issued.clientId} (key ${issued.keyId})`, `access key (shown once): ${issued.accessKey}`]);
    }
    if (action === 'list') {
      const clients = await withDb((db) => listServiceClients(db, values.connection as string | undefined));
      return output(
        json,
        { serviceClients: clients },
        clients.length
          ? clients.map((c) => `${c.clientId}\t${c.connectionId}\t${c.revokedAt ? 'revoked' : `${c.keys.filter((k) => !k.revokedAt).length} live key(s)`}`)
          : ['no service clients'],
      );
    }
    if (!clientId) throw new UsageError(`service-clients ${action ?? ''}: give the client id`);
    if (action === 'rotate') {
      const issued = await withDb(async (db, config) => {
        const client = await findServiceClient(db, clientId);
        if (!client || client.revokedAt) throw new UsageError(`service-clients rotate: no live service client ${clientId}`);
        return rotateServiceClient(db, connectionNamed(config, client.connectionId), clientId, allowProfile);
      });
      return output(json, issued, [`new key ${issued.keyId} for ${issued.clientId}`, `access key (shown once): ${issued.accessKey}`]);
    }
    if (action === 'revoke') {
      const key = values.key as string | undefined;
      if (!(await withDb((db) => revokeService(db, clientId, key)))) throw new UsageError(`service-clients revoke: nothing live matches ${clientId}${key ? ` / ${key}` : ''}`);
      return output(json, { revoked: key ?? clientId }, [`revoked ${key ?? clientId}`]);
    }
    throw new UsageError('service-clients: expected create, list, rotate or revoke');
  },
};
