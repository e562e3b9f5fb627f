// A user's oidc-provider sessions, found through the OidcPayload.accountId column the adapter fills
// for Session rows (an index, so no scan of every session). Ending one removes the session and the
// grants it made, with every token of those grants (refresh tokens included, found by grantId).
import type { Db } from './db.js';

export interface SessionSummary {
  /** oidc-provider's session uid (the `sessionUid` of its codes and tokens). */
  uid: string;
  accountId: string;
  /** When the user signed in (seconds since the epoch), as oidc-provider stores it. */
  loginTs: number | null;
  grantIds: string[];
}

interface SessionPayload {
  accountId?: string;
  loginTs?: number;
  authorizations?: Record<string, { grantId?: string }>;
}

function summary(row: { id: string; uid: string | null; payload: string; expiresAt: Date | null }, now: Date): SessionSummary | null {
  if (!row.uid || (row.expiresAt && row.expiresAt <= now)) return null;
  const payload = JSON.parse(row.payload) as SessionPayload;
  if (!payload.accountId) return null;
  const grantIds = Object.values(payload.authorizations ?? {}).flatMap((a) => (a.grantId ? [a.grantId] : []));
  return { uid: row.uid, accountId: payload.accountId, loginTs: payload.loginTs ?? null, grantIds };
}

/** The live session with this uid, or null (ended, expired, or signed out). */
export async function findSession(db: Db, uid: string, now = new Date()): Promise<SessionSummary | null> {
  const row = await db.prisma.oidcPayload.findFirst({ where: { model: 'Session', uid } });
  return row ? summary(row, now) : null;
}

/** The user's live sessions. */
export async function listSessions(db: Db, accountId: string, now = new Date()): Promise<SessionSummary[]> {
  const rows = await db.prisma.oidcPayload.findMany({ where: { model: 'Session', accountId } });
  return rows.flatMap((row) => summary(row, now) ?? []);
}

/** Ends every session of the user but `keepUid`, with their grants and tokens; returns how many ended. */
export async function endOtherSessions(db: Db, accountId: string, keepUid: string): Promise<number> {
  const rows = await db.prisma.oidcPayload.findMany({ where: { model: 'Session', accountId, NOT: { uid: keepUid } } });
  const others = rows.flatMap((row) => summary(row, new Date(0)) ?? []);
  // A grant the kept session also holds (the same browser signed in twice) stays.
  const kept = new Set((await findSession(db, keepUid))?.grantIds ?? []);
  const grantIds = [...new Set(others.flatMap((s) => s.grantIds))].filter((id) => !kept.has(id));
  await db.prisma.$transaction([
    db.prisma.oidcPayload.deleteMany({ where: { grantId: { in: grantIds } } }),
    db.prisma.oidcPayload.deleteMany({ where: { model: 'Grant', id: { in: grantIds } } }),
    db.prisma.oidcPayload.deleteMany({ where: { model: 'Session', id: { in: rows.map((r) => r.id) } } }),
  ]);
  return rows.length;
}

/**
 * Ends every session and grant of the user, with all their tokens (refresh tokens included): the
 * account changes hands (its address was proven by someone other than whoever made it).
 */
export async function endAllSessions(db: Db, accountId: string): Promise<number> {
  const sessions = await db.prisma.oidcPayload.findMany({ where: { model: 'Session', accountId } });
  const grants = await db.prisma.oidcPayload.findMany({ where: { model: 'Grant', accountId }, select: { id: true } });
  const grantIds = [...new Set([...sessions.flatMap((row) => summary(row, new Date(0))?.grantIds ?? []), ...grants.map((g) => g.id)])];
  await db.prisma.$transaction([
    db.prisma.oidcPayload.deleteMany({ where: { grantId: { in: grantIds } } }),
    db.prisma.oidcPayload.deleteMany({ where: { model: 'Grant', id: { in: grantIds } } }),
    db.prisma.oidcPayload.deleteMany({ where: { model: 'Session', accountId } }),
  ]);
  return sessions.length + grantIds.length;
}

/** Whether the user holds a live grant of this client (has signed in to it and not been signed out of it). */
export async function hasGrantWith(db: Db, accountId: string, clientId: string, now = new Date()): Promise<boolean> {
  const rows = await db.prisma.oidcPayload.findMany({ where: { model: 'Grant', accountId }, select: { payload: true, expiresAt: true } });
  return rows.some((row) => (!row.expiresAt || row.expiresAt > now) && (JSON.parse(row.payload) as { clientId?: string }).clientId === clientId);
}

/** Ends one session of the user with its grants and their tokens; false when the user has no such live session. */
export async function endSession(db: Db, accountId: string, uid: string): Promise<boolean> {
  const row = await db.prisma.oidcPayload.findFirst({ where: { model: 'Session', uid, accountId } });
  const session = row && summary(row, new Date());
  if (!row || !session) return false;
  await db.prisma.$transaction([
    db.prisma.oidcPayload.deleteMany({ where: { grantId: { in: session.grantIds } } }),
    db.prisma.oidcPayload.deleteMany({ where: { model: 'Grant', id: { in: session.grantIds }, accountId } }),
    db.prisma.oidcPayload.deleteMany({ where: { model: 'Session', id: row.id } }),
  ]);
  return true;
}

export interface GrantSummary {
  id: string;
  clientId: string;
  /** The OIDC scopes granted, space-separated. */
  scope: string;
  /** Seconds since the epoch, as oidc-provider stores them. */
  iat: number | null;
  expiresAt: Date | null;
}

/** The user's live grants (what each client was allowed), oldest first. */
export async function listGrants(db: Db, accountId: string, now = new Date()): Promise<GrantSummary[]> {
  const rows = await db.prisma.oidcPayload.findMany({ where: { model: 'Grant', accountId }, select: { id: true, payload: true, expiresAt: true } });
  return rows
    .filter((row) => !row.expiresAt || row.expiresAt > now)
    .map((row) => {
      const payload = JSON.parse(row.payload) as { clientId?: string; openid?: { scope?: string }; iat?: number };
      return { id: row.id, clientId: payload.clientId ?? '', scope: payload.openid?.scope ?? '', iat: payload.iat ?? null, expiresAt: row.expiresAt };
    })
    .sort((a, b) => (a.iat ?? 0) - (b.iat ?? 0));
}

/** Revokes one grant of the user with every token of it (refresh tokens included); false when the user has no such grant. */
export async function revokeGrant(db: Db, accountId: string, grantId: string): Promise<boolean> {
  // Another user's grant id must touch nothing: its tokens are found by grantId alone.
  if (!(await db.prisma.oidcPayload.findFirst({ where: { model: 'Grant', id: grantId, accountId }, select: { id: true } }))) return false;
  const [, deleted] = await db.prisma.$transaction([
    db.prisma.oidcPayload.deleteMany({ where: { grantId, NOT: { model: 'Grant' } } }),
    db.prisma.oidcPayload.deleteMany({ where: { model: 'Grant', id: grantId, accountId } }),
  ]);
  return deleted.count === 1;
}
