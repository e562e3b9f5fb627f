// Identifier parsing. Emails are trimmed and lower-cased (the domain is case-insensitive, and
// treating local parts the same is what users expect and every peer does). Phone numbers are
// parsed with libphonenumber-js and kept in E.164.
import { parsePhoneNumberFromString, type CountryCode, type NumberType } from 'libphonenumber-js/max';

const EMAIL = /^[^\s@"<>()[\],;:\\]+@[^\s@"<>()[\],;:\\]+\.[^\s@"<>()[\],;:\\]+$/;

export type Identifier = { kind: 'email'; value: string } | { kind: 'phone'; value: string; country: string | undefined };

export function normalizeEmail(input: unknown): string | null {
  if (typeof input !== 'string') return null;
  const email = input.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email)) return null;
  return email;
}

/** A valid phone number in E.164 with its country and type, national formats read for `defaultCountry`. */
export function parsePhone(input: unknown, defaultCountry?: string): { e164: string; country: string | undefined; type: NumberType | undefined } | null {
  if (typeof input !== 'string' || input.length > 32) return null;
  const parsed = parsePhoneNumberFromString(input.trim(), defaultCountry as CountryCode | undefined);
  if (!parsed?.isValid()) return null;
  // Premium-rate and shared-cost numbers are where SMS pumping pays; no sign-in needs them.
  const type = parsed.getType();
  if (type === 'PREMIUM_RATE' || type === 'SHARED_COST') return null;
  return { e164: parsed.number, country: parsed.country, type };
}

/** An email, or (when SMS is on) a phone number; what kind was understood is in `kind`. */
export function parseIdentifier(input: unknown, phoneDefaultCountry: string | undefined | false): Identifier | null {
  if (typeof input !== 'string') return null;
  if (input.includes('@') || phoneDefaultCountry === false) {
    const email = normalizeEmail(input);
    return email ? { kind: 'email', value: email } : null;
  }
  const phone = parsePhone(input, phoneDefaultCountry);
  return phone ? { kind: 'phone', value: phone.e164, country: phone.country } : null;
}

/** Identifiers are stored as strings: an E.164 number or an email address. */
export const isPhoneIdentifier = (identifier: string) => identifier.startsWith('+') && !identifier.includes('@');

/** The prefix SMS caps count by: country calling code plus the next digits (e.g. +1415555). */
export function phonePrefix(e164: string, digits = 6): string {
  return e164.slice(0, 1 + digits);
}
