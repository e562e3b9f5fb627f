// Auth0's passkey grant (`urn:okta:params:oauth:grant-type:webauthn`): finishes a ceremony started
// at POST /passkey/register (a registration response: sign-up) or /passkey/challenge (an
// assertion: sign-in) and issues tokens (grants/issue.ts). The auth_session is the challenge's
// handle, bound to the client that asked (`api:<client_id>`) and answered once. Errors are set on
// ctx here rather than thrown: oidc-provider would replace their words (PROTOCOLS-NEXT A.7).
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { relyingParty } from '../../config/passkeys.js';
import type { LoadedConfig } from '../../config/load.js';
import { SesameError } from '../../errors.js';
import { finishAuthentication, finishRegistration, type Asker, type PasskeyDeps } from '../../passwordless/passkeys.js';
import { maySignUp } from '../../passwordless/sign-up.js';
import { requesterIp } from '../../passwordless/requester-network.js';
import { recordAudit } from '../../storage/audit.js';
import { insertUserWithPasskey } from '../../storage/passkeys.js';
import { findUserByEmail, findUserByPhone } from '../../storage/users.js';
import { trustsForwardedFor, webOrigins } from '../client-metadata.js';
import { passkeyAmr } from '../acr.js';
import { issueForAccount, type IssuedAs } from './issue.js';
import { answerMfaRequired } from './mfa-required.js';
import { riskOfGrant } from './risk.js';
import { mfaAudience } from '../resources.js';

export const grantType = 'urn:okta:params:oauth:grant-type:webauthn';
export const grantTypes = [grantType];
export const parameters = ['auth_session', 'authn_response', 'realm', 'organization', 'scope', 'audience'];
const issuedAs: IssuedAs = { gty: grantType, entityLabel: 'passkey' };

/** Registered only where passkeys can work (a relying party: not off, not an IP issuer). */
export function usable(config: LoadedConfig): boolean {
  return relyingParty(config) !== null;
}

/**
 * Who runs an API ceremony: bound to the client, and its page may be on one of the client's
 * web_origins (under the relying party id), since an app's SPA calls the API from its own origin.
 */
export function apiAsker(client: { clientId: string; metadata(): Record<string, unknown> }, ip: string): Asker {
  return { boundTo: `api:${client.clientId}`, origins: webOrigins(client.metadata()), clientId: client.clientId, ip };
}

type Credential = { kind: 'register'; response: RegistrationResponseJSON } | { kind: 'authenticate'; response: AuthenticationResponseJSON };

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The serialized credential, or an invalid_request naming what is missing; never a 500 on garbage. */
function credentialOf(raw: string): Credential {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new SesameError('invalidRequest', { detail: 'authn_response must be the serialized credential (a JSON object).' });
  }
  const c = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const r = (c.response && typeof c.response === 'object' ? c.response : {}) as Record<string, unknown>;
  if (!str(c.id) || c.type !== 'public-key' || !str(r.clientDataJSON)) {
    throw new SesameError('invalidRequest', { detail: 'authn_response needs id, type "public-key" and response.clientDataJSON.' });
  }
  const response = { ...c, rawId: str(c.rawId) ? c.rawId : c.id, clientExtensionResults: c.clientExtensionResults ?? {} };
  if (str(r.attestationObject)) return { kind: 'register', response: response as unknown as RegistrationResponseJSON };
  if (str(r.authenticatorData) && str(r.signature)) return { kind: 'authenticate', response: response as unknown as AuthenticationResponseJSON };
  throw new SesameError('invalidRequest', { detail: 'authn_response.response needs attestationObject (sign-up) or authenticatorData and signature (sign-in).' });
}

/** A registration response: a new account with this passkey, under the sign-up policy, never joining an existing account. */
async function signUp(deps: PasskeyDeps, session: string, response: RegistrationResponseJSON, asker: Asker) {
  const registered = await finishRegistration(deps, session, response, asker);
  const profile = registered.profile;
  if (!profile) throw new SesameError('passkeyExpired');
  if (!maySignUp(deps.config.signUp)) throw new SesameError('passkeySignUpClosed');
  const email = profile.email ?? null;
  const phoneNumber = profile.phoneNumber ?? null;
  // An account of this email or number is someone's: a passkey made without signing in to it must
  // not be added to it (account pre-hijacking). The owner signs in with a code and adds one.
  const taken = (email && (await findUserByEmail(deps.db, email))) || (phoneNumber && (await findUserByPhone(deps.db, phoneNumber)));
  const passkey = taken ? null : await insertUserWithPasskey(deps.db, { email, phoneNumber, name: profile.name ?? null, passkeyHandle: profile.handle }, registered.credential);
  if (!passkey) {
    await recordAudit(deps.db, { type: 'passkey.signup.refused', clientId: asker.clientId, identifier: email ?? phoneNumber, ip: asker.ip, reason: 'user_exists' });
    throw new SesameError('passkeyUserExists');
  }
  await recordAudit(deps.db, { type: 'passkey.signup', clientId: asker.clientId, userId: passkey.userId, identifier: email ?? phoneNumber, ip: asker.ip, reason: passkey.id });
  return { userId: passkey.userId, synced: passkey.backedUp };
}

/** Auth0 answers a refused grant with 403 (as auth0WrongCode); the catalogue's other statuses stand. */
function answer(ctx: KoaContextWithOIDC, err: SesameError): void {
  ctx.status = err.code === 'invalid_grant' ? 403 : err.status;
  for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
  ctx.body = { error: err.code, error_description: err.description ?? err.message };
}

function param(ctx: KoaContextWithOIDC, name: string): string | undefined {
  const value = (ctx.oidc.params as Record<string, unknown>)[name];
  return str(value) ? value : undefined;
}

export function handler(deps: PasskeyDeps) {
  // The MFA API's audience too: asked for at the first factor, issued after the second.
  const apis = new Set([...deps.config.apis.map((api) => api.identifier), mfaAudience(deps.config.issuer)]);
  return async function webauthn(ctx: KoaContextWithOIDC): Promise<void> {
    const client = ctx.oidc.client!;
    try {
      const session = param(ctx, 'auth_session');
      const raw = param(ctx, 'authn_response');
      if (!session || !raw) throw new SesameError('invalidRequest', { detail: 'Missing required parameter(s): auth_session, authn_response.' });
      if (param(ctx, 'organization')) throw new SesameError('invalidRequest', { detail: 'Organizations are not supported.' });
      const audience = param(ctx, 'audience') ?? param(ctx, 'resource');
      if (audience && !apis.has(audience)) throw new SesameError('unknownAudience', { detail: `Service not found: ${audience}` });
      const credential = credentialOf(raw);
      const ip = requesterIp(ctx, trustsForwardedFor(client.metadata()));
      const asker = apiAsker(client, ip);
      const signedIn =
        credential.kind === 'register' ? await signUp(deps, session, credential.response, asker) : await finishAuthentication(deps, session, credential.response, asker);
      const signIn = { accountId: signedIn.userId, amr: passkeyAmr(signedIn.synced), scope: param(ctx, 'scope') ?? 'openid', resource: audience };
      const risk = await riskOfGrant(ctx, deps, signIn, ip);
      if (risk === 'answered' || (await answerMfaRequired(ctx, deps, signIn, risk.adaptive))) return;
      await issueForAccount(ctx, signIn, issuedAs);
    } catch (err) {
      if (!(err instanceof SesameError)) throw err;
      answer(ctx, err);
    }
  };
}
