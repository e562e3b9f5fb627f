// Erasure of one account (the management API's DELETE /users/{id}): every row that holds the person's
// data or lets anyone sign in as them goes, in one transaction. The audit keeps its rows with the
// account's random id, now a pseudonym nothing else resolves, and loses what names or places the
// person: the identifier (email or phone), the IP address, the browser, and a reason naming the address.
import type { Db } from './db.js';

export interface ErasedUser {
  id: string;
  email: string | null;
  phoneNumber: string | null;
}

/** Erases `user` (read by the caller just before); false when the account was gone already. */
export async function eraseUserRows(db: Db, user: ErasedUser): Promise<boolean> {
  const { id } = user;
  const identifiers = [user.email, user.phoneNumber].filter((v): v is string => v !== null);
  const p = db.prisma;
  const [, , , , , , , , , , , , , , , , deleted] = await p.$transaction([
    // oidc-provider's sessions and grants, then every token of those grants (refresh tokens too).
    p.oidcPayload.deleteMany({ where: { grantId: { in: await grantIdsOf(db, id) } } }),
    p.oidcPayload.deleteMany({ where: { accountId: id } }),
    p.passkey.deleteMany({ where: { userId: id } }),
    p.passkeyChallenge.deleteMany({ where: { userId: id } }),
    p.authenticator.deleteMany({ where: { userId: id } }),
    p.recoveryCode.deleteMany({ where: { userId: id } }),
    p.mfaToken.deleteMany({ where: { userId: id } }),
    p.loginTicket.deleteMany({ where: { userId: id } }),
    p.externalIdentity.deleteMany({ where: { userId: id } }),
    p.magicLink.deleteMany({ where: { OR: [{ userId: id }, { email: { in: identifiers } }] } }),
    p.oneTimeCode.deleteMany({ where: { identifier: { in: identifiers } } }),
    // Messages still queued or kept after sending name the address and carry codes and links.
    p.outboxMessage.deleteMany({ where: { recipient: { in: identifiers } } }),
    p.actionDecision.deleteMany({ where: { userId: id } }),
    p.actionUserProfile.deleteMany({ where: { userId: id } }),
    p.auditEvent.updateMany({
      where: { OR: [{ userId: id }, { identifier: { in: identifiers } }] },
      data: { userId: id, identifier: null, ip: null, userAgent: null, repeatKey: null },
    }),
    // A few reasons name the address they were about (sign-up.ts): those lose their reason too.
    p.auditEvent.updateMany({ where: { OR: identifiers.map((value) => ({ reason: { contains: value } })), userId: id }, data: { reason: null } }),
    p.user.deleteMany({ where: { id } }),
  ]);
  return deleted.count === 1;
}

/** The ids of the user's grants: Grant rows carry the accountId, their tokens only the grantId. */
async function grantIdsOf(db: Db, accountId: string): Promise<string[]> {
  const grants = await db.prisma.oidcPayload.findMany({ where: { model: 'Grant', accountId }, select: { id: true } });
  return grants.map((g) => g.id);
}
