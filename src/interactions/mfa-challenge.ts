// What the hosted MFA challenge page (mfa-routes.ts) shows of a user's factors: which one is
// asked for, the others to switch to, and the address or number a code goes to, masked (the page
// follows a first factor only, but it need not spell out the user's other inbox or phone).
import type { Factor } from '../passwordless/mfa/factors.js';
import type { Challengeable } from '../passwordless/mfa/policy.js';

/** The out-of-band challenge of a hosted sign-in: codes sent for it count only in this interaction. */
export function challengeIdOf(uid: string): string {
  return `i.${uid}`;
}

/** `j•••@example.com`: the first character of the local part and the domain. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  return at > 0 ? `${email[0]}•••${email.slice(at)}` : '•••';
}

/** `•••••••67`: the last two digits (what banks and Auth0 show). */
export function maskPhone(phone: string): string {
  return phone.length > 4 ? `${'•'.repeat(phone.length - 3)}${phone.slice(-2)}` : '•••';
}

/** The masked address of an email or SMS factor, '' for the others. */
export function maskedAddress(factor: Challengeable): string {
  if (factor.type === 'email' && factor.email) return maskEmail(factor.email);
  if (factor.type === 'sms' && factor.phoneNumber) return maskPhone(factor.phoneNumber);
  return '';
}

export function isOob(factor: Challengeable): factor is Factor & { type: 'email' | 'sms' } {
  return factor.type === 'email' || factor.type === 'sms';
}

/** The factor `id` names among `factors`, else the default (the first listed). */
export function chosenFactor(factors: Challengeable[], id: unknown): Challengeable {
  return factors.find((f) => f.id === id) ?? factors[0]!;
}

/** What the page template reads of a factor. */
export function factorView(factor: Challengeable) {
  return { id: factor.id, type: factor.type, masked: maskedAddress(factor) };
}
