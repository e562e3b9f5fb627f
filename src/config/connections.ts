// The configured connections, looked up by id and type. The one place that searches
// `config.connections`, so the API, the hosted pages, the grants, the CLI and delivery all answer
// "which connection is this" the same way. It reads the configuration only, so every layer may use it.
import type { Config, ExternalConnection, SmsConnection } from './schema.js';

export type Connection = Config['connections'][number];
export type EmailConnection = Extract<Connection, { type: 'email' }>;
export type Connections = { readonly connections: readonly Connection[] };

/** The connection `id` names, of any type (Auth0's `connection` and `realm`). */
export function connectionById(config: Connections, id: unknown): Connection | undefined {
  return config.connections.find((c) => c.id === id);
}

export function emailConnections(config: Connections): EmailConnection[] {
  return config.connections.filter((c): c is EmailConnection => c.type === 'email');
}

/** The email connection `id` names, else the first one: every email connection sends the same codes. */
export function emailConnection(config: Connections, id = 'email'): EmailConnection | undefined {
  const emails = emailConnections(config);
  return emails.find((c) => c.id === id) ?? emails[0];
}

export function smsConnections(config: Connections): SmsConnection[] {
  return config.connections.filter((c): c is SmsConnection => c.type === 'sms');
}

/** The SMS connection `id` names (none when it names another), or the first one when no id is given. */
export function smsConnection(config: Connections, id?: string): SmsConnection | undefined {
  const sms = smsConnections(config);
  return id ? sms.find((c) => c.id === id) : sms[0];
}

export function externalConnections(config: Connections): ExternalConnection[] {
  return config.connections.filter((c): c is ExternalConnection => c.type === 'external');
}

/** The external connection `id` names; undefined for any other id, including other types'. */
export function externalConnection(config: Connections, id: unknown): ExternalConnection | undefined {
  return externalConnections(config).find((c) => c.id === id);
}
