// Passkey ceremonies (WebAuthn through SimpleWebAuthn), the same for the hosted pages, the account
// page and the Auth0-style API: options with a stored single-use challenge bound to whoever asked
// (`boundTo`), then a verified response. Discoverable credentials with user verification required.
// Every failure of a sign-in is the one `passkeyFailed` error, so none tells whether a credential or
// an account exists; the log and the audit say which it was.
import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { LoadedConfig } from '../config/load.js';
import { hostUnder, relyingParty, type RelyingParty } from '../config/passkeys.js';
import { SesameError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Db } from '../storage/db.js';
import { recordAudit } from '../storage/audit.js';
import {
  consumeChallenge,
  deletePasskey,
  findPasskey,
  insertChallenge,
  listPasskeys,
  passkeyHandleOf,
  recordPasskeyUse,
  userOfPasskeyHandle,
  type ChallengeRow,
  type NewPasskey,
  type PasskeyRow,
} from '../storage/passkeys.js';
import { tenantOfUser } from '../storage/users.js';
import { authenticatorName } from './authenticator-names.js';

export interface PasskeyDeps {
  config: LoadedConfig;
  db: Db;
  log: Logger;
}

export interface Ceremony<Options> {
  /** The challenge's handle: the API's `auth_session`, the pages' hidden field. */
  handle: string;
  options: Options;
}

/** Who runs a ceremony: what the challenge is bound to, the origins its page may have, for the audit. */
export interface Asker {
  boundTo: string;
  /** Origins beyond the relying party's own (a client's web_origins). */
  origins?: readonly string[];
  clientId?: string | null;
  ip?: string | null;
  /** The browser's User-Agent, kept with a sign-in for the account page's recent sign-ins. */
  userAgent?: string | null;
  /**
   * Whether a passkey of an app's user (a user of the actions API, `tenantId` set) may answer. Only
   * the actions client API says so: such a user has no Sesame account, so every Sesame sign-in
   * (hosted pages, the Auth0 passkey grant, MFA) refuses its passkeys here, in one place.
   */
  appUsers?: boolean;
}

/** The account a registration is for: an existing user (enrolment), or a new one's profile (sign-up). */
export type Registrant = { user: { id: string; email?: string | null; phoneNumber?: string | null; name?: string | null } } | { profile: SignUpProfile };

export interface SignUpProfile {
  email?: string;
  phoneNumber?: string;
  name?: string;
}

function party(deps: PasskeyDeps): RelyingParty {
  const rp = relyingParty(deps.config);
  if (!rp) throw new SesameError('passkeysUnavailable');
  return rp;
}

/** The origins a response may come from: the relying party's, and the asker's that lie under its id. */
function expectedOrigins(rp: RelyingParty, asker: Asker): string[] {
  const extra = (asker.origins ?? []).filter((o) => URL.canParse(o) && hostUnder(new URL(o).hostname, rp.id)).map((o) => new URL(o).origin);
  return [...new Set([...rp.origins, ...extra])];
}

async function storeChallenge(deps: PasskeyDeps, row: Omit<ChallengeRow, 'id' | 'expiresAt'>, now: Date): Promise<string> {
  const id = randomBytes(24).toString('base64url');
  await insertChallenge(deps.db, { ...row, id, expiresAt: new Date(now.getTime() + deps.config.passkeys.challengeTtl * 1000) });
  return id;
}

/**
 * Options to create a passkey. An existing user's passkeys are excluded (the authenticator refuses a
 * second one for the same account) unless `excludeExisting` is false: Auth0's SDKs cannot pass them.
 */
export async function startRegistration(
  deps: PasskeyDeps,
  who: Registrant,
  asker: Asker,
  excludeExisting = true,
  now = new Date(),
): Promise<Ceremony<PublicKeyCredentialCreationOptionsJSON>> {
  const rp = party(deps);
  const existing = 'user' in who ? who.user : null;
  const profile = 'profile' in who ? who.profile : null;
  const handle = existing ? await passkeyHandleOf(deps.db, existing.id) : randomBytes(32).toString('base64url');
  const label = existing?.email ?? existing?.phoneNumber ?? profile?.email ?? profile?.phoneNumber ?? 'user';
  const exclude = existing && excludeExisting ? (await listPasskeys(deps.db, existing.id)).map((p) => ({ id: p.id, transports: p.transports })) : [];
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userID: Buffer.from(handle, 'base64url'),
    userName: label,
    userDisplayName: existing?.name ?? profile?.name ?? label,
    attestationType: 'none',
    excludeCredentials: exclude,
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    timeout: deps.config.passkeys.challengeTtl * 1000,
  });
  const id = await storeChallenge(
    deps,
    { challenge: options.challenge, purpose: 'register', userId: existing?.id ?? null, boundTo: asker.boundTo, profile: profile ? JSON.stringify({ ...profile, handle }) : null },
    now,
  );
  return { handle: id, options };
}

/** A verified new credential, not stored yet: `userId` for an enrolment, `profile` (with its handle) for a sign-up. */
export interface Registered {
  credential: Omit<NewPasskey, 'userId'>;
  userId: string | null;
  profile: (SignUpProfile & { handle: string }) | null;
}

/** Checks a registration response against its challenge (used up here, once). */
export async function finishRegistration(deps: PasskeyDeps, handle: string, response: RegistrationResponseJSON, asker: Asker, now = new Date()): Promise<Registered> {
  const rp = party(deps);
  const challenge = await consumeChallenge(deps.db, handle, 'register', asker.boundTo, now);
  if (!challenge) throw new SesameError('passkeyExpired');
  const info = await verifyRegistrationResponse({
    response,
    expectedChallenge: challenge.challenge,
    expectedOrigin: expectedOrigins(rp, asker),
    expectedRPID: rp.id,
    requireUserVerification: true,
  })
    .then((verified) => verified.registrationInfo ?? Promise.reject(new Error('registration not verified')))
    .catch((err: unknown) => refuse(deps, asker, challenge.userId, `registration: ${(err as Error).message}`));
  const credential = {
    id: info.credential.id,
    publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
    counter: info.credential.counter,
    transports: info.credential.transports ?? [],
    deviceType: info.credentialDeviceType,
    backedUp: info.credentialBackedUp,
    aaguid: info.aaguid,
    name: authenticatorName(info.aaguid),
  };
  return { credential, userId: challenge.userId, profile: challenge.profile ? (JSON.parse(challenge.profile) as Registered['profile']) : null };
}

/** Options to sign in with any passkey of this relying party (discoverable: no account is named). */
export async function startAuthentication(deps: PasskeyDeps, asker: Asker, now = new Date()): Promise<Ceremony<PublicKeyCredentialRequestOptionsJSON>> {
  const rp = party(deps);
  const options = await generateAuthenticationOptions({ rpID: rp.id, userVerification: 'required', timeout: deps.config.passkeys.challengeTtl * 1000 });
  const id = await storeChallenge(deps, { challenge: options.challenge, purpose: 'authenticate', userId: null, boundTo: asker.boundTo, profile: null }, now);
  return { handle: id, options };
}

export interface SignedIn {
  userId: string;
  passkey: PasskeyRow;
  /** The passkey is synced between devices (backed up) now; `passkeyAmr` in oidc/acr.ts turns it into amr. */
  synced: boolean;
}

/**
 * Checks a sign-in response: its challenge (used up here, once), the credential and the user handle
 * it names, the signature with user verification, and the counter (a clone whose counter went back
 * is refused; authenticators that always say 0 are allowed).
 *
 * A counter that went back means two authenticators hold one key. The credential is removed then:
 * refusing only that one use would let the copy retry, its counter rising by one each time, until it
 * passed the stored value. The owner signs in with a code and adds a passkey again.
 */
export async function finishAuthentication(deps: PasskeyDeps, handle: string, response: AuthenticationResponseJSON, asker: Asker, now = new Date()): Promise<SignedIn> {
  const rp = party(deps);
  const challenge = await consumeChallenge(deps.db, handle, 'authenticate', asker.boundTo, now);
  if (!challenge) throw new SesameError('passkeyExpired');
  const passkey = typeof response?.id === 'string' ? await findPasskey(deps.db, response.id) : null;
  if (!passkey) return refuse(deps, asker, null, 'unknown credential');
  if (!asker.appUsers && (await tenantOfUser(deps.db, passkey.userId))) return refuse(deps, asker, passkey.userId, "an app's user (actions API) cannot sign in to Sesame");
  const claimed = response.response?.userHandle;
  if (claimed && (await userOfPasskeyHandle(deps.db, claimed)) !== passkey.userId) return refuse(deps, asker, passkey.userId, 'user handle does not match the credential');
  const credential = { id: passkey.id, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: 0, transports: passkey.transports as AuthenticatorTransport[] };
  // The stored counter is checked below rather than by the library, to tell a clone from other failures.
  const info = await verifyAuthenticationResponse({
    response,
    expectedChallenge: challenge.challenge,
    expectedOrigin: expectedOrigins(rp, asker),
    expectedRPID: rp.id,
    credential,
    requireUserVerification: true,
  })
    .then((verified) => (verified.verified ? verified.authenticationInfo : Promise.reject(new Error('signature not verified'))))
    .catch((err: unknown) => refuse(deps, asker, passkey.userId, (err as Error).message));
  if ((passkey.counter > 0 || info.newCounter > 0) && info.newCounter <= passkey.counter) {
    deps.log.warn(
      { userId: passkey.userId, passkeyId: passkey.id, stored: passkey.counter, got: info.newCounter },
      'passkey counter went back: a cloned authenticator? passkey removed',
    );
    await deletePasskey(deps.db, passkey.userId, passkey.id);
    await recordAudit(deps.db, { type: 'passkey.removed', userId: passkey.userId, clientId: asker.clientId ?? null, ip: asker.ip ?? null, reason: `${passkey.id} cloned` });
    return refuse(deps, asker, passkey.userId, `counter went back (${passkey.counter} -> ${info.newCounter}): possible clone`);
  }
  // Two parallel uses of one assertion both pass the check above; only one moves the counter.
  if (!(await recordPasskeyUse(deps.db, passkey.id, passkey.counter, info.newCounter, now)) && info.newCounter > 0) return refuse(deps, asker, passkey.userId, 'counter raced');
  await recordAudit(deps.db, {
    type: 'passkey.login',
    userId: passkey.userId,
    clientId: asker.clientId ?? null,
    ip: asker.ip ?? null,
    reason: passkey.id,
    userAgent: asker.userAgent ?? null,
  });
  return { userId: passkey.userId, passkey, synced: info.credentialBackedUp };
}

async function refuse(deps: PasskeyDeps, asker: Asker, userId: string | null, why: string): Promise<never> {
  deps.log.info({ userId, clientId: asker.clientId, why }, 'passkey refused');
  await recordAudit(deps.db, { type: 'passkey.failed', userId, clientId: asker.clientId ?? null, ip: asker.ip ?? null, reason: why.slice(0, 200) });
  throw new SesameError('passkeyFailed');
}
