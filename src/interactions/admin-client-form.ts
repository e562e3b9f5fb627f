// The console's client form (/admin/clients/new and /admin/clients/:id): what its fields hold, read
// into the metadata that oidc/client-registry.ts (the one home of client metadata, shared with
// `sesame clients` and /api/v1/clients) judges, and a registry refusal turned into the field it names
// so the form comes back with that field marked.
import type { ClientView } from '../oidc/client-registry.js';

/** The form's fields; `grants` are the grant types ticked. */
export interface ClientForm {
  client_id: string;
  client_name: string;
  redirect_uris: string;
  post_logout_redirect_uris: string;
  type: 'confidential' | 'public';
  grants: string[];
  logo_uri: string;
  brand_color: string;
  support_uri: string;
}

/** The grant types the form offers, in its order. */
export const FORM_GRANTS = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

export const FIELDS = ['client_id', 'client_name', 'redirect_uris', 'post_logout_redirect_uris', 'type', 'grants', 'logo_uri', 'brand_color', 'support_uri'] as const;
export type Field = (typeof FIELDS)[number];

/** A new client's form: a confidential web app with the code flow and refresh tokens. */
export const NEW_CLIENT: ClientForm = {
  client_id: '',
  client_name: '',
  redirect_uris: '',
  post_logout_redirect_uris: '',
  type: 'confidential',
  grants: ['authorization_code', 'refresh_token'],
  logo_uri: '',
  brand_color: '',
  support_uri: '',
};

const text = (value: unknown, max = 2000) => (typeof value === 'string' ? value.trim().slice(0, max) : '');
const lines = (value: string) =>
  value
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
const list = (value: unknown) => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/** The posted form (urlencoded; a repeated `grants` arrives as an array). */
export function readForm(body: unknown): ClientForm {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const grants = (Array.isArray(b.grants) ? b.grants : [b.grants]).filter((g): g is string => (FORM_GRANTS as readonly unknown[]).includes(g));
  return {
    client_id: text(b.client_id, 300),
    client_name: text(b.client_name, 300),
    redirect_uris: text(b.redirect_uris, 8000),
    post_logout_redirect_uris: text(b.post_logout_redirect_uris, 8000),
    type: b.type === 'public' ? 'public' : 'confidential',
    grants: [...new Set(grants)],
    logo_uri: text(b.logo_uri),
    brand_color: text(b.brand_color, 50),
    support_uri: text(b.support_uri),
  };
}

/** A stored client as the form shows it. */
export function formOf(client: ClientView): ClientForm {
  const str = (key: string) => (typeof client[key] === 'string' ? (client[key] as string) : '');
  return {
    client_id: client.client_id,
    client_name: str('client_name'),
    redirect_uris: list(client.redirect_uris).join('\n'),
    post_logout_redirect_uris: list(client.post_logout_redirect_uris).join('\n'),
    type: client.token_endpoint_auth_method === 'none' ? 'public' : 'confidential',
    grants: list(client.grant_types),
    logo_uri: str('logo_uri'),
    brand_color: str('brand_color'),
    support_uri: str('support_uri'),
  };
}

/**
 * The metadata the form sets. An empty optional field removes its key (null, as PATCH does); the
 * grant types follow the ticks, and response types follow the grants (the registry's defaults).
 */
export function metadataOf(form: ClientForm): Record<string, unknown> {
  const optional = (value: string) => value || null;
  return {
    client_name: optional(form.client_name),
    redirect_uris: lines(form.redirect_uris),
    post_logout_redirect_uris: lines(form.post_logout_redirect_uris),
    token_endpoint_auth_method: form.type === 'public' ? 'none' : 'client_secret_basic',
    grant_types: form.grants,
    logo_uri: optional(form.logo_uri),
    brand_color: optional(form.brand_color),
    support_uri: optional(form.support_uri),
  };
}

/** For a new client: the same, without the keys an empty field would only remove. */
export function newMetadataOf(form: ClientForm): Record<string, unknown> {
  const set = Object.entries(metadataOf(form)).filter(([, value]) => value !== null);
  return { client_id: form.client_id, ...Object.fromEntries(set) };
}

// Where a refusal names a key, the field that holds it (longer names first: post_logout_redirect_uris
// contains redirect_uris).
const KEY_FIELDS: Array<[RegExp, Field]> = [
  [/post_logout_redirect_uris/, 'post_logout_redirect_uris'],
  [/redirect_uris/, 'redirect_uris'],
  [/client_id/, 'client_id'],
  [/client_name/, 'client_name'],
  [/logo_uri/, 'logo_uri'],
  [/brand_color/, 'brand_color'],
  [/support_uri/, 'support_uri'],
  [/grant_types|response_types|grant/, 'grants'],
  [/token_endpoint_auth_method|public|secret/, 'type'],
];

/** The field a registry refusal is about, or null when it names none of the form's. */
export function fieldOf(message: string): Field | null {
  return KEY_FIELDS.find(([pattern]) => pattern.test(message))?.[1] ?? null;
}
