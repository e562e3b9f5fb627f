// Tenants of the actions API. A tenant is a client with actions enabled: it has a secret key
// (Authsignal's `apiSecretKey`), made by `sesame actions secret <client_id>` and shown once; only
// its SHA-256 is kept, so a database leak gives no key. The server API authenticates with HTTP
// Basic `<secret>:`. A tenant's policy for an action is its own configuration (set through the
// rules API) when it has one, else the config file's `actions.policies`.
import { createHash, randomBytes } from 'node:crypto';
import { actionPolicySchema, policyProblems, type ActionPolicy } from '../config/actions.js';
import type { LoadedConfig } from '../config/load.js';
import { findActionConfiguration, setTenantSecret, tenantBySecretDigest, tenantWithConfiguration } from '../storage/action-tenants.js';
import type { Db } from '../storage/db.js';

const digest = (secret: string) => createHash('sha256').update(secret).digest('base64url');

/** A new secret key for the client (replacing its earlier one). The caller shows it once. */
export async function issueTenantSecret(db: Db, clientId: string): Promise<string> {
  const secret = `sk_${randomBytes(32).toString('base64url')}`;
  await setTenantSecret(db, clientId, digest(secret));
  return secret;
}

const SECRET = /^sk_[A-Za-z0-9_-]{43}$/;

/** The tenant a secret key belongs to, or null. */
export function tenantOfSecret(db: Db, secret: string): Promise<string | null> {
  if (!SECRET.test(secret)) return Promise.resolve(null);
  return tenantBySecretDigest(db, digest(secret));
}

/** The secret key of a `Authorization: Basic base64(<secret>:)` header, or null. */
function secretOfBasic(header: string | undefined): string | null {
  const match = /^Basic ([A-Za-z0-9+/=]{1,512})$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? decoded : decoded.slice(0, colon);
}

/** The tenant a `Authorization: Basic base64(<secret>:)` header names, or null. */
export function tenantOfBasic(db: Db, header: string | undefined): Promise<string | null> {
  const secret = secretOfBasic(header);
  return secret === null ? Promise.resolve(null) : tenantOfSecret(db, secret);
}

/**
 * The tenant of a Basic header and its stored policy JSON for `actionCode`, in one statement (a
 * track needs both; policyFor takes the JSON as `stored`). Null when the key is no tenant's.
 */
export async function tenantOfBasicFor(db: Db, header: string | undefined, actionCode: string): Promise<{ tenantId: string; policy: string | null } | null> {
  const secret = secretOfBasic(header);
  if (secret === null || !SECRET.test(secret)) return null;
  return tenantWithConfiguration(db, digest(secret), actionCode);
}

const ALLOW_ALL: ActionPolicy = { defaultOutcome: 'ALLOW', verificationMethods: [], rules: [] };

/**
 * The policy that decides `actionCode` for `tenantId`: its own configuration, else the config file's,
 * else allow. With `operatorFirst` (Sesame's own sign-ins) the config file's policy wins when it has
 * one: a sign-in makes a session every client trusts, so a tenant's rules must not loosen the
 * operator's for it.
 */
export async function policyFor(
  deps: { config: Pick<LoadedConfig, 'actions'>; db: Db },
  tenantId: string,
  actionCode: string,
  opts: { operatorFirst?: boolean; stored?: string | null } = {},
): Promise<ActionPolicy> {
  const operator = deps.config.actions.policies[actionCode];
  if (opts.operatorFirst && operator) return operator;
  // `stored`: the configuration read already with the tenant (tenantOfBasicFor), saving a statement.
  const stored = opts.stored !== undefined ? opts.stored : await findActionConfiguration(deps.db, tenantId, actionCode);
  if (stored) {
    // Stored through the rules API, which validated it; a row changed by other means that no longer
    // parses falls back to the config file rather than deciding on half a policy.
    const parsed = actionPolicySchema.safeParse(JSON.parse(stored));
    if (parsed.success && !policyProblems(parsed.data, '').length) return parsed.data;
  }
  return operator ?? ALLOW_ALL;
}
