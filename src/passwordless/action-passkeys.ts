// Passkeys for risk actions (Authsignal's client API, @authsignal/browser `passkey.signUp/signIn`):
// adding a passkey for the action's user, passing an action's challenge with one, and a usernameless
// sign-in that tracks a new action for the passkey's owner. The ceremonies are those of passkeys.ts
// (single-use challenges, user verification, the counter, one generic failure).
//
// Who may add a passkey: with the track token only an app's own user (an `act_` principal) that has
// no verification method yet, its first one, which also passes a waiting challenge (as Authsignal's
// enrolment does); anyone else needs the result token of a passed challenge. A track token alone
// must not put a passkey on a Sesame account: the app could then sign its users in to Sesame.
//
// A usernameless sign-in answers for the tenant's users only: its own `act_` users (their app id
// read back from their decisions) and Sesame users who signed in to that client (their `sub`). A
// passkey of another tenant's user, or of a Sesame user the tenant never saw, is the one failure.
import type { RegistrationResponseJSON, AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { LoadedConfig } from '../config/load.js';
import { SesameError } from '../errors.js';
import type { Logger } from '../log.js';
import { appUserIdOf, type ActionDecisionRow } from '../storage/action-decisions.js';
import type { Db } from '../storage/db.js';
import { hasGrantWith } from '../storage/oidc-sessions.js';
import { findPasskey, insertPasskey } from '../storage/passkeys.js';
import { findUserById, tenantOfUser } from '../storage/users.js';
import type { ActionTokenClaims } from './action-tokens.js';
import { mintActionToken } from './action-tokens.js';
import { passChallenge } from './action-results.js';
import { methodsOf, trackAction } from './actions.js';
import { finishAuthentication, finishRegistration, startAuthentication, startRegistration, type Asker } from './passkeys.js';

export interface ActionPasskeyDeps {
  config: LoadedConfig;
  db: Db;
  log: Logger;
  cookieKeys: readonly string[];
  issuer: string;
}

/** The action a bearer token names. */
export interface TokenAction {
  claims: Pick<ActionTokenClaims, 'kind'>;
  row: ActionDecisionRow;
}

/** What the SDK reads from `/client/verify/passkey`. */
export interface PasskeyVerified {
  isVerified: boolean;
  accessToken?: string;
  userId?: string;
  userAuthenticatorId?: string;
  username?: string;
  userDisplayName?: string;
}

const contextOf = (row: ActionDecisionRow) => JSON.parse(row.context || '{}') as { username?: string; email?: string };

/** Whether a passkey may pass the decision's challenge: one of the methods its rule allows (an ALLOW names none). */
const passkeyAllowed = (row: ActionDecisionRow) => row.state !== 'CHALLENGE_REQUIRED' || (JSON.parse(row.verificationMethods) as string[]).includes('PASSKEY');

/** The one failure of a passkey answer: nothing tells whose credential it was or why it failed. */
function failed(err: unknown): never {
  if (err instanceof SesameError && (err.kind === 'passkeyFailed' || err.kind === 'passkeyExpired')) throw new SesameError('actionsPasskeyFailed');
  throw err;
}

/** Whether this token may add a passkey for its action's user (see the header). */
async function mayEnrol(db: Db, { claims, row }: TokenAction): Promise<boolean> {
  if (claims.kind === 'result') return row.state === 'CHALLENGE_SUCCEEDED';
  if (!['CHALLENGE_REQUIRED', 'ALLOW'].includes(row.state) || !row.principalId) return false;
  return (await tenantOfUser(db, row.principalId)) === row.tenantId && (await methodsOf(db, row.principalId)).length === 0;
}

/** Options to add a passkey for the action's user; `username` is the label the authenticator shows. */
export async function passkeyRegistrationFor(deps: ActionPasskeyDeps, action: TokenAction, asker: Asker, username?: string) {
  if (!(await mayEnrol(deps.db, action))) throw new SesameError('actionsEnrolmentNeedsChallenge');
  const userId = action.row.principalId!;
  const sesameUser = (await tenantOfUser(deps.db, userId)) === null ? await findUserById(deps.db, userId) : null;
  const label = username ?? contextOf(action.row).username ?? contextOf(action.row).email ?? action.row.userId;
  // For an app's user the label rides in `email`, which startRegistration only shows.
  const who = sesameUser ? { user: sesameUser } : { user: { id: userId, email: label.slice(0, 200) } };
  const { handle, options } = await startRegistration(deps, who, asker);
  return { challengeId: handle, options };
}

/** Stores the new passkey; with a track token of a waiting challenge, that challenge is passed by it. */
export async function addPasskeyFor(deps: ActionPasskeyDeps, action: TokenAction, challengeId: string, response: RegistrationResponseJSON, asker: Asker): Promise<PasskeyVerified> {
  if (!(await mayEnrol(deps.db, action))) throw new SesameError('actionsEnrolmentNeedsChallenge');
  const registered = await finishRegistration(deps, challengeId, response, asker).catch(failed);
  const userId = action.row.principalId!;
  if (registered.userId !== userId) throw new SesameError('actionsPasskeyFailed');
  const passkey = await insertPasskey(deps.db, { ...registered.credential, userId }).catch((err: unknown) => {
    // A credential id registered already (another account's, or this answer replayed).
    if ((err as { code?: string }).code === 'P2002') throw new SesameError('actionsPasskeyFailed');
    throw err;
  });
  const passes = action.claims.kind === 'track' && action.row.state === 'CHALLENGE_REQUIRED' && passkeyAllowed(action.row);
  const accessToken = passes ? await passChallenge(deps, action.row, 'PASSKEY', passkey.id) : null;
  return { isVerified: true, ...(accessToken && { accessToken }), userAuthenticatorId: passkey.id, userId: action.row.userId };
}

/** Options to pass the action's challenge with a passkey (the action must be waiting for one). */
export async function passkeyChallengeFor(deps: ActionPasskeyDeps, action: TokenAction, asker: Asker) {
  if (action.claims.kind !== 'track' || action.row.state !== 'CHALLENGE_REQUIRED') throw new SesameError('actionsNotChallenging');
  if (!passkeyAllowed(action.row)) throw new SesameError('actionsMethodNotAllowed');
  const { handle, options } = await startAuthentication(deps, asker);
  return { challengeId: handle, options };
}

/** Passes the action's challenge with a passkey of the action's own user, once. */
export async function verifyPasskeyFor(
  deps: ActionPasskeyDeps,
  action: TokenAction,
  challengeId: string,
  response: AuthenticationResponseJSON,
  asker: Asker,
): Promise<PasskeyVerified> {
  if (action.claims.kind !== 'track' || action.row.state !== 'CHALLENGE_REQUIRED') throw new SesameError('actionsNotChallenging');
  if (!passkeyAllowed(action.row)) throw new SesameError('actionsMethodNotAllowed');
  const signedIn = await finishAuthentication(deps, challengeId, response, asker).catch(failed);
  if (signedIn.userId !== action.row.principalId) {
    deps.log.info({ decisionId: action.row.id, passkeyUser: signedIn.userId }, "action passkey refused: not the action's user");
    throw new SesameError('actionsPasskeyFailed');
  }
  // Two parallel answers may both verify (different challenges); only one passes the challenge.
  const accessToken = await passChallenge(deps, action.row, 'PASSKEY', signedIn.passkey.id);
  if (!accessToken) throw new SesameError('actionsNotChallenging');
  const ctx = contextOf(action.row);
  return { isVerified: true, accessToken, userId: action.row.userId, userAuthenticatorId: signedIn.passkey.id, ...(ctx.username && { username: ctx.username }) };
}

/** The tenant's id for the owner of a passkey, or null when the owner is not the tenant's user. */
async function tenantsIdFor(db: Db, tenantId: string, owner: string): Promise<string | null> {
  const tenant = await tenantOfUser(db, owner);
  if (tenant === tenantId) return appUserIdOf(db, tenantId, owner);
  if (tenant === null && (await hasGrantWith(db, owner, tenantId))) return owner;
  return null;
}

export interface UsernamelessSignIn {
  tenantId: string;
  actionCode: string;
  ip: string;
  userAgent?: string | null;
  deviceId?: string | null;
}

/**
 * A usernameless sign-in (`passkey.signIn({action})`): the passkey's owner must be the tenant's user;
 * a new action is tracked for them under the tenant's rules. ALLOW, and CHALLENGE where its rule
 * allows PASSKEY, are passed by the passkey (the result token validates as CHALLENGE_SUCCEEDED);
 * anything else is not, and the answer carries the track token, so `validate` tells the app the state.
 */
export async function signInForAction(
  deps: ActionPasskeyDeps,
  req: UsernamelessSignIn,
  challengeId: string,
  response: AuthenticationResponseJSON,
  asker: Asker,
): Promise<PasskeyVerified> {
  const signedIn = await finishAuthentication(deps, challengeId, response, asker).catch(failed);
  const appUserId = await tenantsIdFor(deps.db, req.tenantId, signedIn.userId);
  if (!appUserId) {
    deps.log.info({ tenantId: req.tenantId, passkeyUser: signedIn.userId }, 'action passkey sign-in refused: not a user of this tenant');
    throw new SesameError('actionsPasskeyFailed');
  }
  const { row } = await trackAction(deps, { ...req, userId: appUserId, principalId: signedIn.userId });
  const passed = passkeyAllowed(row) ? await passChallenge(deps, row, 'PASSKEY', signedIn.passkey.id, undefined, ['CHALLENGE_REQUIRED', 'ALLOW']) : null;
  const accessToken = passed ?? (await mintActionToken(deps, 'track', row, deps.config.actions.tokenTtl)).token;
  return { isVerified: passed !== null, accessToken, userId: appUserId, userAuthenticatorId: signedIn.passkey.id };
}

/**
 * `isAvailableOnDevice`: which of the credential ids a browser remembers are still passkeys of this
 * tenant's users (ids of other tenants' users and unknown ids are left out alike).
 */
export async function tenantPasskeys(db: Db, tenantId: string, credentialIds: readonly string[]): Promise<{ credentialId: string; verifiedAt: string }[]> {
  const found = [];
  for (const id of credentialIds) {
    const passkey = await findPasskey(db, id);
    if (passkey && (await tenantsIdFor(db, tenantId, passkey.userId))) found.push({ credentialId: id, verifiedAt: (passkey.lastUsedAt ?? passkey.createdAt).toISOString() });
  }
  return found;
}
