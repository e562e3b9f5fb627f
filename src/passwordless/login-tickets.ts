// A login ticket carries "this user just proved a code or link for this client" to the one place
// that may act on it: the token endpoint (the login-ticket grant), the interaction that
// started an external sign-in, the authorization request a confirmed email link starts, or the
// client-started sign-in after an operator link. Browser tickets travel only in an HttpOnly cookie,
// never in a URL, so a ticket cannot be handed to someone else's browser (login CSRF).
// 256-bit random, HMAC at rest, single use, one minute.
import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { consumeTicket, insertTicket } from '../storage/login-tickets.js';
import type { Keyring } from './keyring.js';

const TTL_MS = 60_000;
// Tickets live a minute: only the current key makes and finds them.
const idOf = (keys: Keyring, ticket: string) => createHmac('sha256', keys.current().secret).update(`ticket\u0000${ticket}`).digest('base64url');

/** Redeemed only by the login-ticket grant at the token endpoint. */
export const AT_TOKEN_ENDPOINT = 'grant';
/** Redeemed by the next authorization request of its client in the browser holding the cookie
 * (the client starts it through its initiate_login_uri, so Sesame cannot name it in advance). */
export const AT_CLIENT_START = 'client-start';
/** Redeemed only by hosted interaction `uid`. */
export const atInteraction = (uid: string) => `interaction:${uid}`;
/** Redeemed only by the interaction of the authorization request carrying `ticket_ref=ref`. */
export const atRequest = (ref: string) => `request:${ref}`;

export async function issueLoginTicket(db: Db, keys: Keyring, userId: string, clientId: string, amr: readonly string[], boundTo: string): Promise<string> {
  const ticket = randomBytes(32).toString('base64url');
  await insertTicket(db, { id: idOf(keys, ticket), userId, clientId, amr: amr.join(' '), boundTo, expiresAt: new Date(Date.now() + TTL_MS) });
  return ticket;
}

/** A fresh random reference tying a ticket to one authorization request (not a secret). */
export function newTicketRef(): string {
  return randomBytes(16).toString('base64url');
}

/** The user of a live ticket issued to `clientId` and bound to one of `places`, consuming it; null otherwise. */
export async function redeemLoginTicket(db: Db, keys: Keyring, ticket: string, clientId: string, places: string[]) {
  const row = await consumeTicket(db, idOf(keys, ticket), clientId, places);
  if (!row) return null;
  return { userId: row.userId, amr: row.amr.split(' ') };
}
