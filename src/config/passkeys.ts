// The `passkeys` settings and the WebAuthn relying party they make: its id (the issuer's host, or a
// parent domain of it) and the origins whose pages may run a ceremony for it.
import { z } from 'zod';

export const passkeysSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Passkeys on the hosted pages, the account page and the Auth0-style passkey API.'),
    rpId: z
      .string()
      .regex(/^[a-z0-9.-]+$/)
      .optional()
      .describe("WebAuthn relying party id: the issuer's host (default), or a parent domain of it so passkeys also work on sibling hosts. Never an IP address."),
    rpName: z.string().min(1).optional().describe('Name the authenticator shows for the relying party (default ui.productName).'),
    origins: z
      .array(z.url())
      .default([])
      .describe("Further origins (besides the issuer's and each client's web_origins) whose pages may run a passkey ceremony; each must be the relying party id or under it."),
    offerEnrolment: z
      .boolean()
      .default(true)
      .describe('After a code or link sign-in, offer users without a passkey to create one (a client may turn it off with offer_passkeys: false).'),
    challengeTtl: z.number().int().min(30).max(600).default(300).describe('Seconds a passkey challenge stays valid (single use).'),
  })
  .prefault({})
  .describe('Passkeys (WebAuthn, discoverable credentials with user verification).');

export type PasskeysConfig = z.infer<typeof passkeysSchema>;

export interface RelyingParty {
  id: string;
  name: string;
  /** Origins a ceremony of any caller may come from: the issuer's and config `passkeys.origins`. */
  origins: string[];
}

/** Whether `host` is `rpId` or a host under it (WebAuthn's registrable-suffix rule, without a public suffix list). */
export function hostUnder(host: string, rpId: string): boolean {
  return host === rpId || host.endsWith(`.${rpId}`);
}

const IP = /^(\d{1,3}\.){3}\d{1,3}$|^\[?[0-9a-f:]+\]?$/i;

/**
 * The relying party of a configuration, or null when passkeys cannot work there: turned off, or an
 * issuer on an IP address without `rpId` (WebAuthn refuses IP addresses). Throws a message naming
 * the setting when an explicit `rpId` or origin cannot work.
 */
export function relyingParty(config: { issuer: string; passkeys: PasskeysConfig; ui: { productName: string } }): RelyingParty | null {
  if (!config.passkeys.enabled) return null;
  const issuer = new URL(config.issuer);
  const id = config.passkeys.rpId ?? issuer.hostname;
  if (IP.test(id)) {
    if (config.passkeys.rpId) throw new Error(`passkeys.rpId: a passkey relying party id cannot be an IP address (${id}); use a host name`);
    return null;
  }
  const origins = [issuer.origin, ...config.passkeys.origins.map((o) => new URL(o).origin)];
  for (const origin of origins) {
    if (!hostUnder(new URL(origin).hostname, id)) throw new Error(`passkeys.rpId: ${origin} is not under the relying party id ${id}`);
  }
  return { id, name: config.passkeys.rpName ?? config.ui.productName, origins: [...new Set(origins)] };
}
