// Sesame's own client metadata (first_party, management_api, userfront, web_origins...), the rules
// that hold between them, and every question the rest of Sesame asks of a client. oidc-provider runs
// the validator on every client it loads (config file, database, `sesame clients add`), and the
// config schema runs the management rule too.
import type Provider from 'oidc-provider';
import { errors, type Configuration } from 'oidc-provider';
import type { Logger } from '../log.js';
import { MFA_POLICIES, type MfaPolicy } from '../config/mfa.js';
import { grantType as LOGIN_TICKET } from './grants/login-ticket.js';

export const SESAME_CLIENT_KEYS = ['first_party', 'trust_forwarded_for', 'management_api', 'userfront', 'offer_passkeys'] as const;
const SESAME_CLIENT_LISTS = ['web_origins'] as const;
/** Sesame keys holding a name. */
const SESAME_CLIENT_NAMES = ['risk_action'] as const;
/** Sesame keys holding one of a few words. */
const SESAME_CLIENT_CHOICES = { mfa_policy: MFA_POLICIES } as const;
/** Sesame's brand keys (besides the standard client_name and logo_uri): see clientBrand. */
const SESAME_CLIENT_BRAND = ['brand_color', 'support_uri'] as const;

/** A client as oidc-provider loads it, from the config file or the database. */
export type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;
type Metadata = Record<string, unknown>;

const metadataMemo = new WeakMap<Client, Metadata>();

/**
 * `client.metadata()`, made once per loaded client: oidc-provider builds it anew on each call
 * (every key snake-cased), a measurable share of a passwordless start. Read it, never change it.
 */
export function metadataOf(client: Client): Metadata {
  let metadata = metadataMemo.get(client);
  if (!metadata) metadataMemo.set(client, (metadata = client.metadata()));
  return metadata;
}

/** First-party clients skip the consent page: the operator vouches for them. */
export function isFirstParty(metadata: Metadata | undefined): boolean {
  return metadata?.first_party === true;
}

/** May obtain management API tokens (client credentials only, see managementClientProblem). */
export function isManagementClient(metadata: Metadata | undefined): boolean {
  return metadata?.management_api === true;
}

/** A Userfront tenant: its client_id is the tenant id. */
export function isUserfrontTenant(metadata: Metadata | undefined): boolean {
  return metadata?.userfront === true;
}

/** Whether users signing in to this client by code or link are offered a passkey (on unless turned off). */
export function offersPasskeys(metadata: Metadata | undefined): boolean {
  return metadata?.offer_passkeys !== false;
}

/** The client's own MFA policy (`mfa_policy`), or undefined to follow the global `mfa.policy`. */
export function clientMfaPolicy(metadata: Metadata | undefined): MfaPolicy | undefined {
  const policy = metadata?.mfa_policy;
  return (MFA_POLICIES as readonly unknown[]).includes(policy) ? (policy as MfaPolicy) : undefined;
}

/** The risk action this client's sign-ins are decided as (`risk_action`, default `signIn`; config actions.policies). */
export function riskAction(metadata: Metadata | undefined): string {
  return typeof metadata?.risk_action === 'string' ? metadata.risk_action : 'signIn';
}

/**
 * Whether Auth0's `auth0-forwarded-for` header from this client names the end user: only a client
 * the operator flagged, and never a public one (anyone can act as a public client).
 */
export function trustsForwardedFor(metadata: Metadata | undefined): boolean {
  return metadata?.trust_forwarded_for === true && metadata.token_endpoint_auth_method !== 'none';
}

/** The browser origins that may call Sesame's APIs for this client (Auth0's "Allowed Web Origins"). */
export function webOrigins(metadata: Metadata): string[] {
  return Array.isArray(metadata.web_origins) ? metadata.web_origins.filter((o): o is string => typeof o === 'string') : [];
}

/**
 * Why `metadata` may not be a management client, or undefined when it may. A token of any grant
 * but client credentials carries whoever signed in, and the management API must never be reachable
 * through a user's sign-in (open sign-up makes that anyone).
 */
export function managementClientProblem(metadata: { management_api?: unknown; grant_types?: unknown; response_types?: unknown }): string | undefined {
  if (metadata.management_api !== true) return undefined;
  const grants = Array.isArray(metadata.grant_types) ? (metadata.grant_types as unknown[]) : ['authorization_code'];
  const others = grants.filter((g) => g !== 'client_credentials');
  const responseTypes = Array.isArray(metadata.response_types) ? (metadata.response_types as unknown[]) : ['code'];
  if (others.length || responseTypes.length || !grants.length) {
    const got = others.length ? others.join(', ') : `response_types ${responseTypes.join(', ') || '(none)'}`;
    return `a management_api client may only use the client_credentials grant, with grant_types ["client_credentials"] and response_types [] (got ${got}): a user's sign-in must never reach the management API`;
  }
  return undefined;
}

/**
 * Why `metadata` may not use a response type that returns an ID token from the authorization
 * endpoint (id_token, code id_token), or undefined when it may. As at Auth0, only a confidential
 * client: the ID token then travels through the browser, and a public client (SPA, native) has the
 * code flow with PKCE, which keeps it off the front channel.
 */
export function frontChannelIdTokenProblem(metadata: { response_types?: unknown; token_endpoint_auth_method?: unknown }): string | undefined {
  const responseTypes = Array.isArray(metadata.response_types) ? (metadata.response_types as unknown[]) : [];
  const frontChannel = responseTypes.filter((t) => typeof t === 'string' && t.split(' ').includes('id_token'));
  if (!frontChannel.length || (metadata.token_endpoint_auth_method ?? 'client_secret_basic') !== 'none') return undefined;
  return `response_types ${frontChannel.join(', ')} return an ID token through the browser and are for confidential clients only; a public client (token_endpoint_auth_method none) uses response_types ["code"] with PKCE`;
}

/** What a client's pages and emails show of it instead of the global `ui` settings; see clientBrand. */
export interface ClientBrand {
  /** client_name, else undefined (the page then shows ui.productName). */
  name: string | undefined;
  /** logo_uri, normalised (https, or http on a loopback host). */
  logoUri: string | undefined;
  /** brand_color, `#rrggbb` in lower case. */
  color: string | undefined;
  /** support_uri: https, mailto:, or http on a loopback host. */
  supportUri: string | undefined;
}

const COLOR = /^#[0-9a-f]{6}$/i;
const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];
// A host name or address only: the logo's origin goes into the page's Content-Security-Policy, where a
// `;` or `,` (both legal in a URL's host) would start another directive.
const PLAIN_HOST = /^(?:[a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/;

/** `value` as a URL a page may load or link to (https, or http on a loopback host; `mailto:` where allowed), else undefined. */
function brandUrl(value: unknown, mailto: boolean): URL | undefined {
  if (typeof value !== 'string' || !URL.canParse(value)) return undefined;
  const url = new URL(value);
  if (mailto && url.protocol === 'mailto:') return url.pathname.includes('@') ? url : undefined;
  if (!PLAIN_HOST.test(url.hostname) || url.username || url.password) return undefined;
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.includes(url.hostname)) ? url : undefined;
}

/** The first brand key of `metadata` that may not be shown and why, or undefined when all may. */
export function brandProblem(metadata: Readonly<Record<string, unknown>>): { key: string; message: string } | undefined {
  if (metadata.logo_uri !== undefined && !brandUrl(metadata.logo_uri, false)) {
    return { key: 'logo_uri', message: 'logo_uri must be an https URL of a host name (http only on localhost), like https://cdn.example.com/logo.png' };
  }
  if (metadata.brand_color !== undefined && !(typeof metadata.brand_color === 'string' && COLOR.test(metadata.brand_color))) {
    return { key: 'brand_color', message: 'brand_color must be a colour #rrggbb, like #1a73e8' };
  }
  if (metadata.support_uri !== undefined && !brandUrl(metadata.support_uri, true)) {
    return { key: 'support_uri', message: 'support_uri must be an https URL (http only on localhost) or a mailto: address, like https://help.example.com' };
  }
  return undefined;
}

/**
 * The client's brand, or undefined for a client without one: a client is branded by logo_uri,
 * brand_color or support_uri, and then its client_name is the product name on its pages and in its
 * emails. Values are re-checked so a page never receives one the validator would refuse.
 */
export function clientBrand(metadata: Metadata | undefined): ClientBrand | undefined {
  if (!metadata) return undefined;
  const logo = brandUrl(metadata.logo_uri, false);
  const color = typeof metadata.brand_color === 'string' && COLOR.test(metadata.brand_color) ? metadata.brand_color.toLowerCase() : undefined;
  const support = brandUrl(metadata.support_uri, true);
  if (!logo && !color && !support) return undefined;
  const name = typeof metadata.client_name === 'string' && metadata.client_name ? metadata.client_name : undefined;
  return { name, logoUri: logo?.href, color, supportUri: support?.href };
}

/**
 * The client's privacy policy and terms of service (standard policy_uri, tos_uri) for its consent
 * page, which OpenID Connect says should show them; only a URL a brand link could be (see brandUrl).
 */
export function clientPolicies(metadata: Metadata | undefined): { policyUri: string | undefined; tosUri: string | undefined } {
  return { policyUri: brandUrl(metadata?.policy_uri, false)?.href, tosUri: brandUrl(metadata?.tos_uri, false)?.href };
}

// InvalidClientMetadata, not Error: a bad client stored in the database must answer 400, not 500.
function validateSesameMetadata(_ctx: unknown, key: string, value: unknown, metadata: Record<string, unknown>): void {
  if ((SESAME_CLIENT_KEYS as readonly string[]).includes(key) && value !== undefined && typeof value !== 'boolean') {
    throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
  }
  const choices = (SESAME_CLIENT_CHOICES as Record<string, readonly string[]>)[key];
  if (choices && value !== undefined && !choices.includes(value as string)) {
    throw new errors.InvalidClientMetadata(`${key} must be one of ${choices.join(', ')}`);
  }
  if (key === 'management_api') {
    const problem = managementClientProblem(metadata);
    if (problem) throw new errors.InvalidClientMetadata(problem);
  }
  // Checked once per client: first_party is one of the keys the validator is called for on every client.
  if (key === 'first_party') {
    const problem = frontChannelIdTokenProblem(metadata);
    if (problem) throw new errors.InvalidClientMetadata(problem);
  }
  // The Userfront API gets a tenant's tokens from the token endpoint with no secret to send.
  const grants = metadata.grant_types as string[] | undefined;
  if (key === 'userfront' && value === true && (metadata.token_endpoint_auth_method !== 'none' || !grants?.includes(LOGIN_TICKET))) {
    throw new errors.InvalidClientMetadata(`a userfront tenant must be public (token_endpoint_auth_method none) and allow the ${LOGIN_TICKET} grant`);
  }
  if (key === 'risk_action' && value !== undefined && !(typeof value === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(value))) {
    throw new errors.InvalidClientMetadata('risk_action must be an action code of 1 to 64 letters, digits, _ . : or -');
  }
  if (key === 'brand_color') {
    // Called for every client: the standard logo_uri is checked here too (oidc-provider takes any web URI).
    const problem = brandProblem(metadata);
    if (problem) throw new errors.InvalidClientMetadata(problem.message);
  }
  if (key === 'web_origins' && value !== undefined && !(Array.isArray(value) && value.every((o) => typeof o === 'string' && URL.canParse(o) && new URL(o).origin === o))) {
    throw new errors.InvalidClientMetadata('web_origins must be a list of origins like https://app.example.com');
  }
}

/** oidc-provider's `extraClientMetadata`, for the provider and for the CLI's validation probe alike. */
export const sesameClientMetadata = {
  properties: [...SESAME_CLIENT_KEYS, ...SESAME_CLIENT_LISTS, ...SESAME_CLIENT_NAMES, ...Object.keys(SESAME_CLIENT_CHOICES), ...SESAME_CLIENT_BRAND],
  validator: validateSesameMetadata as NonNullable<Configuration['extraClientMetadata']>['validator'],
};

/**
 * Pages name a client without `client_name` in plain words ("the application"): its client_id
 * ("continue to my-app") means nothing to the person signing in. This tells the operator, once per
 * client: at startup for config-file clients that users sign in to, and when first shown for
 * clients added to the database. Returns the function that reports a client shown without a name.
 */
export function unnamedClientWarnings(log: Logger, configClients: ReadonlyArray<Record<string, unknown>>): (clientId: string) => void {
  const warned = new Set<string>();
  const warn = (clientId: string) => {
    if (warned.has(clientId)) return;
    warned.add(clientId);
    log.warn({ clientId }, `client ${clientId} has no client_name: sign-in pages call it "the application"; set client_name to the name users know it by`);
  };
  for (const client of configClients) {
    const grants = Array.isArray(client.grant_types) ? (client.grant_types as unknown[]) : ['authorization_code'];
    // A client-credentials-only client (a management client) never puts anyone on a page.
    const showsPages = grants.some((g) => g !== 'client_credentials');
    if (showsPages && !client.client_name && typeof client.client_id === 'string') warn(client.client_id);
  }
  return warn;
}
