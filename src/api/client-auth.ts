// Client authentication for our own JSON endpoints (the passwordless API), with the methods the
// token endpoint accepts: client_secret_post, client_secret_basic, private_key_jwt, or none for
// public clients. Errors are OAuth-shaped.
import type Provider from 'oidc-provider';
import type { Client } from '../oidc/client-metadata.js';
import type { Context } from 'koa';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Db } from '../storage/db.js';
import { firstUse } from '../risk/replay.js';
import { CLIENT_ASSERTION } from '../risk/limits.js';
import { SesameError } from '../errors.js';

export interface AuthenticatedClient {
  client: Client;
  /** True when the client proved a secret or key (never for public clients). */
  confidential: boolean;
}

const invalidClient = (detail: string) => new SesameError('invalidClient', { detail });
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

function basicCredentials(ctx: Context): { id: string; secret: string } | undefined {
  const [scheme, value] = ctx.get('authorization').split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !value) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  try {
    return { id: decodeURIComponent(decoded.slice(0, i)), secret: decodeURIComponent(decoded.slice(i + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * One remote key set per client and URI for the life of the process, so that jose's cache and
 * cooldown apply: a stream of junk assertions (unknown kid) fetches the client's jwks_uri at most
 * once per cooldown instead of once per request.
 */
const remoteKeySets = new Map<string, JWTVerifyGetKey>();

function remoteKeySet(clientId: string, uri: string): JWTVerifyGetKey {
  const key = `${clientId} ${uri}`;
  let keys = remoteKeySets.get(key);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 });
    remoteKeySets.set(key, keys);
  }
  return keys;
}

/** Seconds after its iat that a client assertion is accepted. */
const ASSERTION_MAX_AGE = 300;

async function verifyAssertion(db: Db, client: Client, assertion: string, audiences: string[]): Promise<void> {
  const metadata = client.metadata() as { jwks?: { keys: object[] }; jwks_uri?: string };
  let keys: JWTVerifyGetKey;
  if (metadata.jwks) keys = createLocalJWKSet(metadata.jwks as Parameters<typeof createLocalJWKSet>[0]);
  else if (metadata.jwks_uri) keys = remoteKeySet(client.clientId, metadata.jwks_uri);
  else throw invalidClient('The client has no keys for private_key_jwt.');
  try {
    const { payload } = await jwtVerify(assertion, keys, { issuer: client.clientId, subject: client.clientId, audience: audiences, maxTokenAge: ASSERTION_MAX_AGE });
    if (!payload.jti || !payload.exp) throw new Error('jti and exp are required');
    // A client assertion is single use (RFC 7523). Its jti is remembered for as long as its iat is
    // accepted at all (risk/limits.ts, CLIENT_ASSERTION).
    if (!(await firstUse(db, CLIENT_ASSERTION, [client.clientId, payload.jti], { maxAge: ASSERTION_MAX_AGE }))) throw new Error('assertion replayed');
  } catch (err) {
    throw invalidClient(`Client assertion rejected: ${(err as Error).message}`);
  }
}

/** Finds and authenticates the calling client; public clients pass without a secret. */
export async function authenticateClient(provider: Provider, db: Db, ctx: Context, body: Record<string, unknown>, audiences: string[]): Promise<AuthenticatedClient> {
  const basic = basicCredentials(ctx);
  const clientId = typeof body.client_id === 'string' ? body.client_id : basic?.id;
  if (!clientId) throw new SesameError('invalidRequest', { detail: 'Missing required parameter: client_id' });
  let client: Client | undefined;
  try {
    client = await provider.Client.find(clientId);
  } catch {
    client = undefined;
  }
  if (!client) throw invalidClient('Unknown client.');
  if (client.clientAuthMethod === 'none') return { client, confidential: false };

  if (typeof body.client_assertion === 'string') {
    if (body.client_assertion_type !== ASSERTION_TYPE) throw invalidClient('Unsupported client_assertion_type.');
    await verifyAssertion(db, client, body.client_assertion, audiences);
    return { client, confidential: true };
  }
  const secret = typeof body.client_secret === 'string' ? body.client_secret : basic?.id === clientId ? basic.secret : undefined;
  if (!secret) throw invalidClient('Client authentication is required.');
  if (!(await client.compareClientSecret(secret))) throw invalidClient('Client authentication failed.');
  return { client, confidential: true };
}
