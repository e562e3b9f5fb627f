// Login tickets at rest: keyed by the ticket's HMAC, consumed by a conditional update (once, ever)
// that also checks the client and the place redeeming it, so a ticket offered in the wrong place
// stays unused for the right one.
import type { Db } from './db.js';

export interface TicketRow {
  id: string;
  userId: string;
  clientId: string;
  amr: string;
  boundTo: string | null;
  expiresAt: Date;
}

export async function insertTicket(db: Db, row: TicketRow): Promise<void> {
  await db.prisma.loginTicket.create({ data: row });
}

/** Consumes the ticket with this id if live, issued to `clientId` and bound to one of `places`;
 * returns it to exactly one caller. */
export async function consumeTicket(db: Db, id: string, clientId: string, places: string[], now = new Date()): Promise<TicketRow | null> {
  const { count } = await db.prisma.loginTicket.updateMany({
    where: { id, clientId, consumedAt: null, expiresAt: { gt: now }, boundTo: { in: places } },
    data: { consumedAt: now },
  });
  if (count !== 1) return null;
  return db.prisma.loginTicket.findUnique({ where: { id }, select: { id: true, userId: true, clientId: true, amr: true, boundTo: true, expiresAt: true } });
}

export async function sweepTickets(db: Db, now = new Date()): Promise<number> {
  const { count } = await db.prisma.loginTicket.deleteMany({ where: { expiresAt: { lte: now } } });
  return count;
}
