// The hosted sign-in as a small state machine: which step an interaction is at, decided from the
// facts the router loads. Pure (no Koa, no I/O), so each branch has a unit test of its own.
import { ACR, AMR, acrOf, offeredMethods, type Method } from '../oidc/acr.js';
import { normalizeEmail } from '../passwordless/identifiers.js';

/** A sign-in this browser proved a moment ago: a login ticket, or a link approved on another device. */
export interface Proof {
  userId: string;
  amr: readonly string[];
}

/**
 * What the step depends on. The first four come with the interaction; the rest are loaded only when
 * `nextStep` asks for them (`need`), in its order: redeeming a ticket or an approval uses it up, so
 * one is looked at only when the flow gets that far.
 */
export interface StepFacts {
  /** oidc-provider's prompt: `consent`, else the sign-in (`login`). */
  prompt: string;
  /** The authorization request's parameters (acr_values, claims, connection, login_hint). */
  params: Record<string, unknown>;
  /** The methods this configuration has (`availableMethods`). */
  available: Method[];
  /** Ids of the configured external connections. */
  externals: readonly string[];
  /** The client skips consent (first-party). */
  firstParty?: boolean;
  /** The user of this browser's login ticket, when it is bound to this sign-in (redeemed). */
  ticket?: Proof | null;
  /** The user a login link of this sign-in was used or approved for (redeemed). */
  approval?: string | null;
  /** The identifier of this sign-in's live code. */
  liveCode?: { identifier: string } | null;
}

export type Fact = 'firstParty' | 'ticket' | 'approval' | 'liveCode';

export type Step =
  /** A first-party client: consent is given without asking. */
  | { kind: 'approve-consent' }
  | { kind: 'ask-consent' }
  /** An essential acr no configured method meets. */
  | { kind: 'unmet' }
  | { kind: 'sign-in'; userId: string; amr: readonly string[] }
  /** The request named an external connection: hand the sign-in over right away. */
  | { kind: 'hand-off'; connectionId: string }
  | { kind: 'code'; identifier: string }
  /** The first page; `email` is the request's login_hint when it is an address. */
  | { kind: 'email'; email: string };

/** Load this fact, then ask again. */
export interface Need {
  kind: 'need';
  fact: Fact;
}

const need = (fact: Fact): Need => ({ kind: 'need', fact });

/** The step an interaction is at, or the fact still needed to tell. */
export function nextStep(facts: StepFacts): Step | Need {
  if (facts.prompt === 'consent') {
    if (facts.firstParty === undefined) return need('firstParty');
    return { kind: facts.firstParty ? 'approve-consent' : 'ask-consent' };
  }
  const offered = offeredMethods(facts.params, facts.available);
  if (offered === 'unmet') return { kind: 'unmet' };
  if (facts.ticket === undefined) return need('ticket');
  if (facts.ticket) return { kind: 'sign-in', userId: facts.ticket.userId, amr: facts.ticket.amr };
  if (facts.approval === undefined) return need('approval');
  if (facts.approval) return { kind: 'sign-in', userId: facts.approval, amr: AMR.emailLink };
  const connection = facts.params.connection;
  if (offered.includes('external') && typeof connection === 'string' && facts.externals.includes(connection)) {
    return { kind: 'hand-off', connectionId: connection };
  }
  if (facts.liveCode === undefined) return need('liveCode');
  if (facts.liveCode) return { kind: 'code', identifier: facts.liveCode.identifier };
  const hint = typeof facts.params.login_hint === 'string' ? facts.params.login_hint : '';
  return { kind: 'email', email: normalizeEmail(hint) ?? '' };
}

/** The request demands a passkey (acr_values or an essential acr claim naming only it). */
export function passkeyDemanded(offered: Method[] | 'unmet'): boolean {
  return offered !== 'unmet' && offered.length === 1 && offered[0] === 'passkey';
}

/**
 * Whether a sign-in proven by `amr` may finish a request that offered `offered`. One that demands a
 * passkey takes only a passkey: a code or link sign-in there is the way to create one first (the
 * enrolment offer), after which the user signs in with it.
 */
export function signInMeets(offered: Method[] | 'unmet', amr: readonly string[]): boolean {
  return !passkeyDemanded(offered) || acrOf(amr) === ACR.passkey;
}
