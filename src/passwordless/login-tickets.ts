// A login ticket carries "this user just proved a code or link for this client" from the
// passwordless API to the authorization endpoint, where the hosted flow redeems it instead of
// asking again. 256-bit random, HMAC at rest, single use, one minute.
import { createHmac, randomBytes } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { consumeTicket, insertTicket } from '../storage/login-tickets.js';

const TTL_MS = 60_000;
const idOf = (key: string, ticket: string) => createHmac('sha256', key).update(`ticket\u0000${ticket}`).digest('base64url');

export async function issueLoginTicket(db: Db, key: string, userId: string, clientId: string, amr: string[]): Promise<string> {
  const ticket = randomBytes(32).toString('base64url');
  await insertTicket(db, { id: idOf(key, ticket), userId, clientId, amr: amr.join(' '), expiresAt: new Date(Date.now() + TTL_MS) });
  return ticket;
}

/** The user of a live ticket issued to `clientId`, consuming it; null otherwise. */
export async function redeemLoginTicket(db: Db, key: string, ticket: string, clientId: string) {
  const row = await consumeTicket(db, idOf(key, ticket));
  if (!row || row.clientId !== clientId) return null;
  return { userId: row.userId, amr: row.amr.split(' ') };
}
