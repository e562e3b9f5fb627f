// nextStep, the hosted flow's state machine, without a server: each branch, and the order in which
// it asks for facts (a ticket or an approval is redeemed when loaded, so it must be asked for only
// when the flow gets that far).
import { describe, expect, it } from 'vitest';
import { ACR, AMR, availableMethods, offeredMethods } from '../../src/oidc/acr.js';
import { loadConfig } from '../../src/config/load.js';
import { nextStep, passkeyDemanded, signInMeets, type StepFacts } from '../../src/interactions/steps.js';

const login: StepFacts = { prompt: 'login', params: {}, available: ['email', 'sms', 'external'], externals: ['acme'] };
const loaded: StepFacts = { ...login, ticket: null, approval: null, liveCode: null };
const essentialSms = JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.sms] } } });
const essential = (...values: string[]) => JSON.stringify({ id_token: { acr: { essential: true, values } } });
const withPasskey: StepFacts = { ...login, available: ['email', 'sms', 'external', 'passkey'] };

describe('nextStep', () => {
  it('asks whether the client is first-party at the consent prompt, and nothing else', () => {
    expect(nextStep({ ...login, prompt: 'consent' })).toEqual({ kind: 'need', fact: 'firstParty' });
  });

  it('gives consent without asking for a first-party client', () => {
    expect(nextStep({ ...login, prompt: 'consent', firstParty: true })).toEqual({ kind: 'approve-consent' });
  });

  it('asks for consent for any other client, whatever else is known', () => {
    expect(nextStep({ ...loaded, prompt: 'consent', firstParty: false, liveCode: { identifier: 'a@example.com' } })).toEqual({ kind: 'ask-consent' });
  });

  it('ends the sign-in when an essential acr cannot be met, before redeeming anything', () => {
    expect(nextStep({ ...login, available: ['email'], params: { claims: essentialSms } })).toEqual({ kind: 'unmet' });
  });

  it('offers every method when a voluntary acr cannot be met', () => {
    expect(nextStep({ ...login, available: ['email'], params: { acr_values: ACR.sms } })).toEqual({ kind: 'need', fact: 'ticket' });
  });

  it('asks for the ticket first, then the approval, then the live code', () => {
    expect(nextStep(login)).toEqual({ kind: 'need', fact: 'ticket' });
    expect(nextStep({ ...login, ticket: null })).toEqual({ kind: 'need', fact: 'approval' });
    expect(nextStep({ ...login, ticket: null, approval: null })).toEqual({ kind: 'need', fact: 'liveCode' });
  });

  it('signs in with a redeemed ticket, without looking at approvals or codes', () => {
    expect(nextStep({ ...login, ticket: { userId: 'u1', amr: AMR.external } })).toEqual({ kind: 'sign-in', userId: 'u1', amr: AMR.external });
  });

  it('signs in with an approved link, by the link amr', () => {
    expect(nextStep({ ...login, ticket: null, approval: 'u2' })).toEqual({ kind: 'sign-in', userId: 'u2', amr: AMR.emailLink });
  });

  it('hands off to the external connection the request names, before looking for a code', () => {
    expect(nextStep({ ...login, ticket: null, approval: null, params: { connection: 'acme' } })).toEqual({ kind: 'hand-off', connectionId: 'acme' });
  });

  it('does not hand off to an unknown connection, or when the acr leaves external out', () => {
    expect(nextStep({ ...loaded, params: { connection: 'other' } })).toEqual({ kind: 'email', email: '' });
    expect(nextStep({ ...loaded, params: { connection: 'acme', acr_values: ACR.email } })).toEqual({ kind: 'email', email: '' });
    expect(nextStep({ ...loaded, params: { connection: ['acme'] } })).toEqual({ kind: 'email', email: '' });
  });

  it('shows the code step while a code is live', () => {
    expect(nextStep({ ...loaded, liveCode: { identifier: '+14155550100' } })).toEqual({ kind: 'code', identifier: '+14155550100' });
  });

  it('shows the email step, filled from a login_hint that is an address', () => {
    expect(nextStep(loaded)).toEqual({ kind: 'email', email: '' });
    expect(nextStep({ ...loaded, params: { login_hint: ' Ann@Example.com ' } })).toEqual({ kind: 'email', email: 'ann@example.com' });
    expect(nextStep({ ...loaded, params: { login_hint: 'not an address' } })).toEqual({ kind: 'email', email: '' });
  });

  it('treats any prompt but consent as the sign-in', () => {
    expect(nextStep({ ...loaded, prompt: 'select_account' })).toEqual({ kind: 'email', email: '' });
  });
});

describe('passkeys among the methods', () => {
  it('are available when the relying party can work: a host name issuer, passkeys on', () => {
    expect(availableMethods(loadConfig({}, { issuer: 'http://localhost:3000' }))).toEqual(['email', 'passkey']);
    expect(availableMethods(loadConfig({}, { issuer: 'http://127.0.0.1:3000' }))).toEqual(['email']);
    expect(availableMethods(loadConfig({}, { issuer: 'http://localhost:3000', passkeys: { enabled: false } }))).toEqual(['email']);
  });

  it('rank above the others: offered beside any voluntary acr that is met, alone when only the passkey is asked for', () => {
    const all = withPasskey.available;
    expect(offeredMethods({}, all)).toEqual(all);
    expect(offeredMethods({ acr_values: ACR.email }, all)).toEqual(['email', 'passkey']);
    expect(offeredMethods({ acr_values: `${ACR.sms} ${ACR.email}` }, all)).toEqual(['email', 'sms', 'passkey']);
    expect(offeredMethods({ acr_values: ACR.passkey }, all)).toEqual(['passkey']);
    expect(offeredMethods({ acr_values: 'urn:unknown' }, all)).toEqual(all);
    // Without passkeys, a request for one gets the other methods (voluntary) or is unmet (essential).
    expect(offeredMethods({ acr_values: ACR.passkey }, ['email'])).toEqual(['email']);
    expect(offeredMethods({ claims: essential(ACR.passkey) }, ['email'])).toBe('unmet');
  });

  it('meet an essential acr claim only when it names the passkey (oidc-provider checks the acr it gets)', () => {
    const all = withPasskey.available;
    expect(offeredMethods({ claims: essential(ACR.passkey) }, all)).toEqual(['passkey']);
    expect(offeredMethods({ claims: essential(ACR.email) }, all)).toEqual(['email']);
    expect(offeredMethods({ claims: essential(ACR.email, ACR.passkey) }, all)).toEqual(['email', 'passkey']);
  });

  it('show the email step for a request demanding a passkey, the code being the way to create one', () => {
    const facts = { ...withPasskey, ticket: null, approval: null, liveCode: null, params: { acr_values: ACR.passkey } };
    expect(nextStep(facts)).toEqual({ kind: 'email', email: '' });
    expect(nextStep({ ...facts, available: ['email'], params: { claims: essential(ACR.passkey) } })).toEqual({ kind: 'unmet' });
  });

  it('let only a passkey finish a request demanding one', () => {
    expect(passkeyDemanded(['passkey'])).toBe(true);
    expect(passkeyDemanded(['email', 'passkey'])).toBe(false);
    expect(passkeyDemanded('unmet')).toBe(false);
    expect(signInMeets(['passkey'], AMR.emailCode)).toBe(false);
    expect(signInMeets(['passkey'], AMR.emailLink)).toBe(false);
    expect(signInMeets(['passkey'], AMR.passkeySynced)).toBe(true);
    expect(signInMeets(['passkey'], AMR.passkeyDevice)).toBe(true);
    expect(signInMeets(['email', 'passkey'], AMR.emailCode)).toBe(true);
    expect(signInMeets(['email'], AMR.external)).toBe(true);
  });
});
