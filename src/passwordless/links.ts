// Magic links: a 256-bit token in the URL, an HMAC of it at rest. Opening a link changes nothing;
// using one is an explicit POST. A login link opened in the browser that started the sign-in
// finishes it; opened anywhere else it can only approve that sign-in after number matching, so a
// scanner that fetches, renders or even clicks through the page never gets a session.
import { createHmac, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { consumeLink, findLink, insertLink, redeemApproval, revokeLink, type LinkRow } from '../storage/magic-links.js';
import type { Keyring } from './keyring.js';

const mac = (key: string, id: string, token: string) => createHmac('sha256', key).update(`link\u0000${id}\u0000${token}`).digest();

export interface NewLoginLink {
  uuid: string;
  token: string;
  matchNumber: string;
}

/** Creates the login link of a hosted sign-in (replacing earlier ones of that sign-in). */
export async function createLoginLink(
  db: Db,
  keys: Keyring,
  link: { email: string; clientId: string; flowKey: string; ttl: number; requestIp?: string; requestFrom?: string | null },
): Promise<NewLoginLink> {
  const key = keys.current();
  const uuid = randomUUID();
  const token = randomBytes(32).toString('base64url');
  const matchNumber = String(randomInt(10, 100));
  await insertLink(db, {
    id: uuid,
    tokenHash: mac(key.secret, uuid, token).toString('base64url'),
    keyId: key.id,
    type: 'login',
    email: link.email,
    clientId: link.clientId,
    flowKey: link.flowKey,
    matchNumber,
    requestIp: link.requestIp ?? null,
    requestFrom: link.requestFrom ?? null,
    expiresAt: new Date(Date.now() + link.ttl * 1000),
  });
  return { uuid, token, matchNumber };
}

export type OperatorLinkType = 'welcome' | 'custom';

/**
 * A link not tied to a waiting sign-in: one an operator sends (welcome, custom lifetime), or a
 * `login` link an app asked for through the Userfront API (used by that app, not by a sign-in).
 */
export async function createOperatorLink(
  db: Db,
  keys: Keyring,
  link: { type: OperatorLinkType | 'login'; email: string; clientId?: string; ttl: number },
): Promise<{ uuid: string; token: string; expiresAt: Date }> {
  const key = keys.current();
  const uuid = randomUUID();
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(Date.now() + link.ttl * 1000);
  await insertLink(db, {
    id: uuid,
    tokenHash: mac(key.secret, uuid, token).toString('base64url'),
    keyId: key.id,
    type: link.type,
    email: link.email,
    clientId: link.clientId ?? null,
    flowKey: null,
    matchNumber: null,
    requestIp: null,
    requestFrom: null,
    expiresAt,
  });
  return { uuid, token, expiresAt };
}

/** The lifetime of an operator link: welcome links have the configured one, custom links 10 s to the cap. */
export function operatorLinkTtl(type: OperatorLinkType, requested: number | undefined, limits: { welcomeTtl: number; customMaxTtl: number }): number {
  if (type === 'welcome') {
    if (requested !== undefined) throw new RangeError('welcome links have a fixed lifetime; use type custom to choose one');
    return limits.welcomeTtl;
  }
  if (requested === undefined) throw new RangeError('custom links need a lifetime (ttl)');
  if (!Number.isInteger(requested) || requested < 10 || requested > limits.customMaxTtl) {
    throw new RangeError(`ttl must be between 10 seconds and ${limits.customMaxTtl} seconds`);
  }
  return requested;
}

/** The URL of a link: Userfront's shape, `/login/link?uuid=&token=`. */
export function linkUrl(issuer: string, uuid: string, token: string): string {
  return `${issuer.replace(/\/$/, '')}/login/link?${new URLSearchParams({ uuid, token })}`;
}

export type LinkCheck = { ok: true; link: LinkRow } | { ok: false; reason: 'invalid' | 'expired' | 'used' };

/** The live link for `uuid` and `token`, compared in constant time. */
export async function checkLink(db: Db, keys: Keyring, uuid: unknown, token: unknown, now = new Date()): Promise<LinkCheck> {
  if (typeof uuid !== 'string' || typeof token !== 'string' || uuid.length > 64 || token.length > 128) return { ok: false, reason: 'invalid' };
  const link = await findLink(db, uuid);
  const key = link && keys.find(link.keyId);
  if (!link || !key) return { ok: false, reason: 'invalid' };
  const expected = Buffer.from(link.tokenHash, 'base64url');
  const given = mac(key.secret, uuid, token);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'invalid' };
  if (link.consumedAt || link.revokedAt) return { ok: false, reason: 'used' };
  if (link.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, link };
}

/** Uses the link in the browser that started the sign-in. */
export function useLink(db: Db, link: LinkRow, userId: string): Promise<boolean> {
  return consumeLink(db, link.id, userId);
}

export type PickResult = { ok: true; userId: string } | { ok: false; reason: 'wrong' | 'used' };

/**
 * Uses a login link from another device once `number` is the one its waiting sign-in shows:
 * `approve` lets that sign-in continue; `elsewhere` settles the link so that only this device
 * signs in. One wrong number ends the link: a user talked into guessing for an attacker's waiting
 * sign-in gets one chance in 90, and then a page saying the link is over. Whichever of parallel
 * picks lands first decides (both outcomes are conditional updates of a live link).
 */
export async function pickNumber(db: Db, link: LinkRow, number: string, userOf: () => Promise<string>, use: 'approve' | 'elsewhere'): Promise<PickResult> {
  const expected = Buffer.from(link.matchNumber ?? '');
  const given = Buffer.from(number);
  if (expected.length === 0 || expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: (await revokeLink(db, link.id)) ? 'wrong' : 'used' };
  }
  const userId = await userOf();
  return (await consumeLink(db, link.id, userId, new Date(), use === 'elsewhere')) ? { ok: true, userId } : { ok: false, reason: 'used' };
}

/** The user a used login link signed in for a sign-in, from its approval found waiting (storage/codes.ts findApprovalAndLiveCode), once. */
export async function redeemFoundApproval(db: Db, approval: { id: string; userId: string }): Promise<string | null> {
  return (await redeemApproval(db, approval.id)) ? approval.userId : null;
}
