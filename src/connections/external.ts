// External connections (Authress's custom passwordless connection): Sesame hands the user to the
// operator's login UI with a single-use `state`; the operator's service signs an assertion (an
// EdDSA JWT) with a service-client key and sends the user back; Sesame checks every part of it.
// Access keys use Authress's format: clientId.keyId.accountId.base64(PKCS#8 DER of Ed25519).
// An assertion is short-lived (`iat` required, at most MAX_AGE_SECONDS old) and single use: the
// Authress SDK's JWT carries no jti and no state, so its signed content is what is remembered.
import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWK } from 'jose';
import type { ExternalConnection } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { firstUse } from '../risk/replay.js';
import { EXTERNAL_ASSERTION } from '../risk/limits.js';
import { normalizeEmail } from '../passwordless/identifiers.js';
import { parseName } from '../passwordless/names.js';
import { consumeExternalState, findExternalState, findServiceKey, insertExternalState, insertServiceClient, insertServiceKey } from '../storage/external.js';

export const ASSERTION_TYPE = 'oauth-authz-req+jwt';
const STATE_TTL_MS = 10 * 60_000;
const CLOCK_TOLERANCE_SECONDS = 30;
/** The longest an assertion may live, from `iat` (the SDK makes 60 s ones). */
const MAX_AGE_SECONDS = 120;

/** The claim of Sesame's own helper (`sesame/connect`) that carries profile claims. */
export const PROFILE_CLAIM = 'sesame_profile';

const id = (prefix: string) => `${prefix}${randomBytes(9).toString('hex')}`;

function newKey(allowProfile: boolean) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kid = id('key_');
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'EdDSA', use: 'sig' };
  const pkcs8 = (privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64');
  return { row: { kid, publicJwk: JSON.stringify(jwk), allowProfile }, pkcs8 };
}

export interface IssuedKey {
  clientId: string;
  keyId: string;
  accessKey: string;
}

/** Creates a service client for `connection`; the access key is shown once and never stored. */
export async function createServiceClient(
  db: Db,
  connection: Pick<ExternalConnection, 'id' | 'accountId'>,
  options: { allowProfile?: boolean; name?: string } = {},
): Promise<IssuedKey> {
  const clientId = id('sc_');
  const { row, pkcs8 } = newKey(options.allowProfile === true);
  await insertServiceClient(db, { id: clientId, connectionId: connection.id, name: options.name }, row);
  return { clientId, keyId: row.kid, accessKey: `${clientId}.${row.kid}.${connection.accountId}.${pkcs8}` };
}

/** Adds a second key to a service client (the first stays valid until revoked). */
export async function rotateServiceClient(db: Db, connection: Pick<ExternalConnection, 'id' | 'accountId'>, clientId: string, allowProfile = false): Promise<IssuedKey> {
  const { row, pkcs8 } = newKey(allowProfile);
  await insertServiceKey(db, clientId, row);
  return { clientId, keyId: row.kid, accessKey: `${clientId}.${row.kid}.${connection.accountId}.${pkcs8}` };
}

const stateId = (key: string, state: string) => createHmac('sha256', key).update(`external\u0000${state}`).digest('base64url');

/** The operator URL a sign-in is handed to, with a fresh state bound to it. */
export async function handOffUrl(
  db: Db,
  key: string,
  connection: ExternalConnection,
  signIn: { interactionUid: string; clientId: string; loginHint?: string; uiLocales?: string },
  issuer: string,
): Promise<string> {
  const state = randomBytes(32).toString('base64url');
  await insertExternalState(db, {
    id: stateId(key, state),
    connectionId: connection.id,
    interactionUid: signIn.interactionUid,
    clientId: signIn.clientId,
    expiresAt: new Date(Date.now() + STATE_TTL_MS),
  });
  // The operator URL's own query is kept; ours is added to it.
  const url = new URL(connection.authorizationUrl);
  url.searchParams.set('state', state);
  url.searchParams.set('redirect_uri', `${issuer.replace(/\/$/, '')}/connections/${connection.id}/callback`);
  if (signIn.loginHint) url.searchParams.set('login_hint', signIn.loginHint);
  if (signIn.uiLocales) url.searchParams.set('ui_locales', signIn.uiLocales);
  return url.toString();
}

export type AssertionFailure =
  | 'missing_parameters'
  | 'unknown_state'
  | 'state_used'
  | 'state_expired'
  | 'wrong_connection'
  | 'malformed'
  | 'unknown_key'
  | 'revoked_key'
  | 'bad_signature'
  | 'expired'
  | 'missing_iat'
  | 'issued_in_future'
  | 'too_old'
  | 'lifetime_too_long'
  | 'assertion_used'
  | 'wrong_state'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'wrong_client';

export type AssertionResult =
  | { ok: true; subject: string; interactionUid: string; clientId: string; serviceClientId: string; profile: { email?: string; name?: string } }
  | { ok: false; reason: AssertionFailure; serviceClientId?: string };

const fail = (reason: AssertionFailure, serviceClientId?: string): AssertionResult => ({ ok: false, reason, serviceClientId });

function verifyFailure(err: unknown): AssertionFailure {
  if (err instanceof joseErrors.JWTExpired) return err.claim === 'iat' ? 'too_old' : 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'iat') return err.reason === 'missing' ? 'missing_iat' : 'issued_in_future';
    return err.claim === 'aud' ? 'wrong_audience' : err.claim === 'iss' ? 'wrong_issuer' : 'malformed';
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad_signature';
  return 'malformed';
}

/** Checks a returning user's assertion (PROTOCOLS.md section 2) and uses up its state. */
export async function checkAssertion(
  db: Db,
  key: string,
  connection: ExternalConnection,
  query: { code?: unknown; iss?: unknown; state?: unknown },
  issuer: string,
): Promise<AssertionResult> {
  const { code, iss, state } = query;
  if (typeof code !== 'string' || typeof iss !== 'string' || typeof state !== 'string' || state.length > 128) return fail('missing_parameters');
  const pending = await findExternalState(db, stateId(key, state));
  if (!pending) return fail('unknown_state');
  if (pending.connectionId !== connection.id) return fail('wrong_connection');
  if (pending.consumedAt) return fail('state_used');
  if (pending.expiresAt.getTime() <= Date.now()) return fail('state_expired');

  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(code);
  } catch {
    return fail('malformed');
  }
  if (header.alg !== 'EdDSA' || header.typ !== ASSERTION_TYPE || typeof header.kid !== 'string') return fail('malformed');
  const stored = await findServiceKey(db, header.kid);
  if (!stored) return fail('unknown_key');
  const serviceClientId = stored.clientId;
  if (stored.revokedAt || stored.client.revokedAt) return fail('revoked_key', serviceClientId);
  if (stored.client.connectionId !== connection.id) return fail('wrong_connection', serviceClientId);

  const expectedIssuer = `${new URL(issuer).origin}/v1/clients/${encodeURIComponent(serviceClientId)}`;
  if (iss !== expectedIssuer) return fail('wrong_issuer', serviceClientId);
  let payload: Record<string, unknown>;
  try {
    const publicKey = await importJWK(JSON.parse(stored.publicJwk) as JWK, 'EdDSA');
    ({ payload } = await jwtVerify(code, publicKey, {
      algorithms: ['EdDSA'],
      typ: ASSERTION_TYPE,
      audience: `${connection.accountId}.accounts.authress.io`,
      issuer: expectedIssuer,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      // jose then requires iat and refuses one in the future or older than the maximum age.
      maxTokenAge: MAX_AGE_SECONDS,
      requiredClaims: ['exp', 'iat', 'sub'],
    }));
  } catch (err) {
    return fail(verifyFailure(err), serviceClientId);
  }
  // jose accepts an array that contains the audience; an assertion is for exactly one account.
  if (typeof payload.aud !== 'string') return fail('wrong_audience', serviceClientId);
  if ((payload.exp as number) - (payload.iat as number) > MAX_AGE_SECONDS) return fail('lifetime_too_long', serviceClientId);
  if (payload.client_id !== serviceClientId || typeof payload.sub !== 'string' || !payload.sub) return fail('wrong_client', serviceClientId);
  // Sesame's helper binds its assertion to the state it answers; the SDK's carries none.
  if (payload.state !== undefined && payload.state !== state) return fail('wrong_state', serviceClientId);
  if (!(await useAssertionOnce(db, code))) return fail('assertion_used', serviceClientId);
  if (!(await consumeExternalState(db, pending.id))) return fail('state_used', serviceClientId);
  return {
    ok: true,
    subject: payload.sub,
    interactionUid: pending.interactionUid,
    clientId: pending.clientId,
    serviceClientId,
    profile: assertedProfile(stored.allowProfile, payload),
  };
}

/**
 * True for the first use of an assertion while it can still be accepted. Keyed by the signed part
 * (header.payload): the signature's last base64url character can carry ignored bits, so a copy with
 * another last character must count as the same assertion.
 */
async function useAssertionOnce(db: Db, code: string): Promise<boolean> {
  const signed = code.slice(0, code.lastIndexOf('.'));
  const hash = createHash('sha256').update(signed).digest('base64url');
  // Remembered for as long as an assertion can be accepted (risk/limits.ts, EXTERNAL_ASSERTION).
  return firstUse(db, EXTERNAL_ASSERTION, [hash], { maxAge: MAX_AGE_SECONDS, skew: CLOCK_TOLERANCE_SECONDS });
}

/**
 * Profile claims only from keys the operator allowed to assert them (Sesame's helper sends them).
 * An email that is not one (after trimming and lower-casing), or a name that is not one (names.ts),
 * is dropped; the sign-in goes on.
 */
function assertedProfile(allowProfile: boolean, payload: Record<string, unknown>): { email?: string; name?: string } {
  const claimed = allowProfile ? (payload[PROFILE_CLAIM] as Record<string, unknown> | undefined) : undefined;
  const email = normalizeEmail(claimed?.email);
  const name = parseName(claimed?.name);
  return { ...(email ? { email } : {}), ...(name ? { name } : {}) };
}
