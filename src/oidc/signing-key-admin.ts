// Signing keys as operators manage them (the `sesame keys` CLI, the management API, the admin
// console): the published keys with their public JWKs and state, and a rotation, audited with who
// asked. Every instance picks rotated keys up from the database (server.ts's key watch), however
// the rotation was made.
import type { JWK } from 'jose';
import type { LoadedConfig } from '../config/load.js';
import type { Db } from '../storage/db.js';
import { recordAudit } from '../storage/audit.js';
import { listPublicSigningKeys, rotateSigningKeys } from '../storage/signing-keys.js';

/** The longest a token signed by a key can live, plus a minute of clock skew. */
export function keyOverlapSeconds(config: Pick<LoadedConfig, 'tokens' | 'apis'>): number {
  return Math.max(config.tokens.idToken, config.tokens.accessToken, ...config.apis.map((a) => a.accessTokenTtl)) + 60;
}

/** A published key: `active` ones sign, `retired` ones are still served (until `publishedUntil`) to verify what they signed. */
export interface KeyView {
  kid: string;
  alg: string;
  use: 'sig';
  state: 'active' | 'retired';
  createdAt: Date;
  retiredAt: Date | null;
  publishedUntil: Date | null;
  /** Public members only. */
  jwk: JWK;
}

export async function listKeys(db: Db, now = new Date()): Promise<KeyView[]> {
  return (await listPublicSigningKeys(db, now)).map((k) => ({
    kid: k.kid,
    alg: k.alg,
    use: 'sig',
    state: k.retiredAt ? 'retired' : 'active',
    createdAt: k.createdAt,
    retiredAt: k.retiredAt,
    publishedUntil: k.removeAt,
    jwk: k.jwk,
  }));
}

/** Who rotates: `console` (an admin: `actor` is `admin:<user id>`), `management_api` (`actor` is `management_api:<client id>`) or `cli`. */
export interface KeyRotator {
  via: 'console' | 'management_api' | 'cli';
  actor?: string;
  userId?: string | null;
  clientId?: string | null;
  ip?: string | null;
}

/** Retires the active keys and makes new ones (the CLI's rotation), audited as `keys.rotated` naming the new kids; returns the published keys after. */
export async function rotateKeys(db: Db, config: Pick<LoadedConfig, 'tokens' | 'apis'>, by: KeyRotator, now = new Date()): Promise<KeyView[]> {
  await rotateSigningKeys(db, keyOverlapSeconds(config), now);
  const keys = await listKeys(db, now);
  const fresh = keys.filter((k) => k.state === 'active').map((k) => k.kid);
  await recordAudit(db, {
    type: 'keys.rotated',
    userId: by.userId ?? null,
    clientId: by.clientId ?? null,
    ip: by.ip ?? null,
    identifier: fresh.join(' '),
    reason: by.actor ? `via ${by.via} by ${by.actor}` : `via ${by.via}`,
  });
  return keys;
}
