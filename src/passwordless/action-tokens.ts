// The two tokens of a tracked action, in the claim layout Authsignal's tokens had (older SDKs
// decoded it): `{sub, aud, iat, exp, jti, scope, other: {tenantId, userId, actionCode, idempotencyKey}}`.
// The *track* token is what `track` returns: the pre-built page's `?token=` and the client API's
// bearer while the challenge runs. The *result* token is minted once the challenge is passed and
// is what the app validates (once: `jti` is stored on the decision). HS256 under a key derived
// from the cookie keys (any of them verifies, so a key rotation keeps live tokens working); the
// `typ` claim keeps one kind from passing for the other.
import { createHmac, randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';

export type ActionTokenKind = 'track' | 'result';

export interface ActionTokenClaims {
  kind: ActionTokenKind;
  tenantId: string;
  /** The tenant's id for its user. */
  userId: string;
  actionCode: string;
  idempotencyKey: string;
  /** Unique per token (a result token's id is stored on its decision). */
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
  scope: string;
}

/** The scopes a track token grants on the client API. */
export const TRACK_SCOPE = 'read:authenticators add:authenticators';

const keyOf = (cookieKey: string) => createHmac('sha256', cookieKey).update('sesame action tokens').digest();

export interface ActionTokenDeps {
  cookieKeys: readonly string[];
  issuer: string;
}

/** Mints a token of `kind` for the action, living `ttl` seconds. */
export async function mintActionToken(
  deps: ActionTokenDeps,
  kind: ActionTokenKind,
  action: { tenantId: string; userId: string; actionCode: string; idempotencyKey: string },
  ttl: number,
  now = new Date(),
): Promise<{ token: string; jti: string }> {
  const jti = randomUUID();
  const iat = Math.floor(now.getTime() / 1000);
  const token = await new SignJWT({
    typ: kind,
    scope: kind === 'track' ? TRACK_SCOPE : '',
    other: { tenantId: action.tenantId, userId: action.userId, actionCode: action.actionCode, idempotencyKey: action.idempotencyKey },
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(action.userId)
    .setAudience(action.tenantId)
    .setIssuer(deps.issuer)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(jti)
    .sign(keyOf(deps.cookieKeys[0]!));
  return { token, jti };
}

export type ActionTokenProblem = 'expired' | 'invalid';

/**
 * The claims of a token of `kind`, or why it is refused: `expired` (a well-signed token past its
 * `exp`: the client API answers `expired_token`), else `invalid` (bad signature, another kind, malformed).
 */
export async function readActionToken(
  deps: ActionTokenDeps,
  kind: ActionTokenKind,
  token: string,
  now = new Date(),
): Promise<{ claims: ActionTokenClaims } | { problem: ActionTokenProblem }> {
  if (typeof token !== 'string' || token.length > 4096) return { problem: 'invalid' };
  for (const cookieKey of deps.cookieKeys) {
    try {
      const { payload } = await jwtVerify(token, keyOf(cookieKey), { algorithms: ['HS256'], issuer: deps.issuer, currentDate: now });
      const other = payload.other as Record<string, unknown> | undefined;
      const fields = ['tenantId', 'userId', 'actionCode', 'idempotencyKey'] as const;
      if (payload.typ !== kind || !other || !fields.every((f) => typeof other[f] === 'string') || typeof payload.jti !== 'string') return { problem: 'invalid' };
      const [tenantId, userId, actionCode, idempotencyKey] = fields.map((f) => other[f] as string) as [string, string, string, string];
      return { claims: { kind, tenantId, userId, actionCode, idempotencyKey, jti: payload.jti, exp: payload.exp!, scope: String(payload.scope ?? '') } };
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_JWT_EXPIRED') return { problem: 'expired' };
      if ((err as { code?: string }).code !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return { problem: 'invalid' };
    }
  }
  return { problem: 'invalid' };
}
