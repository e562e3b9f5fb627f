// Loads the configuration once: file (SESAME_CONFIG or ./sesame.config.json), then environment
// variables on top, validated by the schema and frozen. Bad config fails with the field path.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configSchema, type Config } from './schema.js';
import { emailConnections, smsConnections } from './connections.js';
import { clientFeatureProblem, connectionFeatureProblem } from './features.js';
import { relyingParty } from './passkeys.js';
import { loadUiOverrides, type UiOverrides } from './ui-overrides.js';
import { brandProblem, frontChannelIdTokenProblem, managementClientProblem } from '../oidc/client-metadata.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type LoadedConfig = Readonly<Config> & {
  readonly issuer: string;
  readonly production: boolean;
  readonly devOutbox: boolean;
  /** Trusted proxy hops in front of us (`trustProxy`: true is 1, false is 0). */
  readonly proxyHops: number;
  /** The operator's text and email overrides (`ui.overridesDir`), read once. */
  readonly uiOverrides?: UiOverrides;
};

type Env = Record<string, string | undefined>;

function readFile(env: Env): Record<string, unknown> {
  const explicit = env.SESAME_CONFIG || undefined;
  const path = resolve(explicit ?? 'sesame.config.json');
  if (!existsSync(path)) {
    if (explicit) throw new ConfigError(`SESAME_CONFIG: file not found: ${path}`);
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
}

function envOverrides(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (env.PORT) out.port = Number(env.PORT);
  if (env.SESAME_ISSUER) out.issuer = env.SESAME_ISSUER;
  if (env.DATABASE_URL) out.databaseUrl = env.DATABASE_URL;
  if (env.SMTP_URL) out.smtpUrl = env.SMTP_URL;
  if (env.EMAIL_FROM) out.emailFrom = env.EMAIL_FROM;
  if (env.LOG_LEVEL) out.logLevel = env.LOG_LEVEL;
  if (env.SESAME_WORKERS) out.workers = env.SESAME_WORKERS === 'auto' ? 'auto' : Number(env.SESAME_WORKERS);
  if (env.TRUST_PROXY) out.trustProxy = proxySetting(env.TRUST_PROXY);
  return out;
}

/** TRUST_PROXY: a hop count (1, 2...), or true/yes (one hop); anything else trusts no proxy. */
function proxySetting(value: string): number | boolean {
  const text = value.trim().toLowerCase();
  if (/^\d+$/.test(text)) return Number(text);
  return ['true', 'yes'].includes(text);
}

/**
 * Whether any message really leaves this server: SMTP, a webhook delivery, or an SMS provider
 * other than capture. The dev outbox, which shows codes, exists only when none does.
 */
function deliversForReal(config: Config): boolean {
  if (config.smtpUrl) return true;
  return emailConnections(config).some((c) => c.delivery !== undefined) || smsConnections(config).some((c) => c.provider.type !== 'capture');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Connections of a switched-off feature are refused rather than silently unused. */
function checkConnections(config: Config): void {
  for (const [i, c] of config.connections.entries()) {
    const problem = connectionFeatureProblem(config, c);
    if (problem) throw new ConfigError(`invalid configuration at connections.${i}: ${problem}`);
  }
}

/** Rules across clients and features that oidc-provider would otherwise only apply when it loads them. */
function checkClients(config: Config & { issuer: string }): void {
  const ids = new Set<string>();
  for (const [i, c] of config.clients.entries()) {
    if (ids.has(c.client_id)) throw new ConfigError(`invalid configuration at clients.${i}.client_id: duplicate ${c.client_id}`);
    ids.add(c.client_id);
    const featureProblem = clientFeatureProblem(config, c);
    if (featureProblem) throw new ConfigError(`invalid configuration at clients.${i}.${featureProblem.key}: ${featureProblem.message}`);
    const problem = managementClientProblem(c);
    if (problem) throw new ConfigError(`invalid configuration at clients.${i}.management_api: ${problem}`);
    // A config client without a secret is public (see oidc/provider.ts).
    const idTokenProblem = frontChannelIdTokenProblem({ ...c, token_endpoint_auth_method: c.token_endpoint_auth_method ?? (c.client_secret ? undefined : 'none') });
    if (idTokenProblem) throw new ConfigError(`invalid configuration at clients.${i}.response_types: ${idTokenProblem}`);
    const brand = brandProblem(c);
    if (brand) throw new ConfigError(`invalid configuration at clients.${i}.${brand.key}: ${brand.message}`);
  }
}

/** Parses and checks a configuration; `overrides` (tests, CLI flags) win over file and env. */
export function loadConfig(env: Env = process.env, overrides: Record<string, unknown> = {}): LoadedConfig {
  const raw = { ...readFile(env), ...envOverrides(env), ...overrides };
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // An unknown key's issue sits on its parent object; name the key itself.
    const keys = issue.path.concat(issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : []);
    const path = keys.length ? keys.join('.') : '(root)';
    throw new ConfigError(`invalid configuration at ${path}: ${issue.message}`);
  }
  const config = { ...result.data, issuer: result.data.issuer ?? `${result.data.tls ? 'https' : 'http'}://localhost:${result.data.port}` };
  const production = env.NODE_ENV === 'production';
  const realDelivery = deliversForReal(config);
  const devOutbox = config.devOutbox ?? (!production && !realDelivery);
  if (config.http.headersTimeout > config.http.requestTimeout) {
    throw new ConfigError('invalid configuration at http.headersTimeout: must not exceed http.requestTimeout');
  }
  if (production) {
    const issuer = new URL(config.issuer);
    const local = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
    if (issuer.protocol !== 'https:' && !local) throw new ConfigError(`issuer: must be https in production (got ${config.issuer})`);
    if (emailConnections(config).length && !config.smtpUrl) {
      throw new ConfigError('smtpUrl: SMTP_URL is required in production while the email connection is enabled');
    }
    if (devOutbox) throw new ConfigError('devOutbox: the dev outbox cannot be enabled in production');
  }
  if (devOutbox && realDelivery) {
    throw new ConfigError('devOutbox: the dev outbox shows codes, so it cannot be enabled while messages are really delivered (smtpUrl, a webhook or an SMS provider)');
  }
  checkConnections(config);
  // Before the clients: their rules ask the relying party, which must be valid by then.
  checkPasskeys(config);
  checkClients(config);
  const proxyHops = config.trustProxy === true ? 1 : config.trustProxy === false ? 0 : config.trustProxy;
  const uiOverrides = config.ui.overridesDir === undefined ? undefined : readOverrides(config.ui.overridesDir);
  return deepFreeze({ ...config, production, devOutbox, proxyHops, ...(uiOverrides && { uiOverrides }) });
}

function readOverrides(dir: string): UiOverrides {
  try {
    return loadUiOverrides(dir);
  } catch (err) {
    throw new ConfigError(`invalid configuration at ui.overridesDir: ${(err as Error).message}`);
  }
}

/** An explicit passkey relying party that WebAuthn would refuse is a start-up error, not a failing ceremony. */
function checkPasskeys(config: Parameters<typeof relyingParty>[0]): void {
  try {
    relyingParty(config);
  } catch (err) {
    throw new ConfigError(`invalid configuration at ${(err as Error).message}`);
  }
}
