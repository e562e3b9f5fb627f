// `sesame/connect`: the helper for operators' login services that do not use @authress/sdk. It
// makes the same return URL as Authress's ServiceClientTokenProvider.generateUserLoginUrl, and can
// also assert profile claims (email, name) when the key was created with --allow-profile. Unlike
// the SDK's, its assertion names the `state` it answers (Sesame refuses it for any other sign-in)
// and carries a `jti`, so two sign-ins of one user in one second are two different assertions.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';

export interface Profile {
  email?: string;
  name?: string;
}

/** Parses an access key `clientId.keyId.accountId.base64(PKCS#8 Ed25519)`. */
function decodeAccessKey(accessKey: string) {
  const [clientId, keyId, accountId, privateKey] = accessKey.split('.');
  if (!clientId || !keyId || !accountId || !privateKey) throw new Error('not a Sesame (Authress-format) access key');
  return { clientId, keyId, accountId, key: createPrivateKey({ key: Buffer.from(privateKey, 'base64'), format: 'der', type: 'pkcs8' }) };
}

/**
 * The URL to send the user back to: `redirectUri` (Sesame's callback, as received) with
 * `code` (a 60-second, single-use EdDSA assertion that `userId` signed in, for this `state`), `iss`
 * and `state`.
 */
export async function generateUserLoginUrl(accessKey: string, redirectUri: string, state: string, clientId: string, userId: string, profile?: Profile): Promise<string> {
  const decoded = decodeAccessKey(accessKey);
  if (clientId !== decoded.clientId) throw new Error('clientId does not match the access key');
  if (!state || !userId) throw new Error('state and userId are required');
  const url = new URL(redirectUri);
  const issuer = `${url.origin}/v1/clients/${encodeURIComponent(decoded.clientId)}`;
  const now = Math.floor(Date.now() / 1000);
  const code = await new SignJWT({
    client_id: decoded.clientId,
    max_age: 60,
    scope: 'openid',
    state,
    ...(profile ? { sesame_profile: profile } : {}),
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: decoded.keyId, typ: 'oauth-authz-req+jwt' })
    .setAudience(`${decoded.accountId}.accounts.authress.io`)
    .setIssuer(issuer)
    .setSubject(userId)
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(decoded.key);
  url.searchParams.set('code', code);
  url.searchParams.set('iss', issuer);
  url.searchParams.set('state', state);
  return url.toString();
}
