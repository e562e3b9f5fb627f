// nextStep, the hosted flow's state machine, without a server: each branch, and the order in which
// it asks for facts (a ticket or an approval is redeemed when loaded, so it must be asked for only
// when the flow gets that far).
import { describe, expect, it } from 'vitest';
import { ACR, AMR } from '../../src/oidc/acr.js';
import { nextStep, type StepFacts } from '../../src/interactions/steps.js';

const login: StepFacts = { prompt: 'login', params: {}, available: ['email', 'sms', 'external'], externals: ['acme'] };
const loaded: StepFacts = { ...login, ticket: null, approval: null, liveCode: null };
const essentialSms = JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.sms] } } });

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
