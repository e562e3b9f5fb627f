// Keys of passwordless state: the hosted flow keys codes by interaction, the API flow by client,
// requester network (requester-network.ts) and identifier, so the same code never crosses from one
// client to another, and a send from another network (same public client, same address) never
// retires the code the requester is using.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Keyring } from './keyring.js';

export const interactionFlowKey = (uid: string) => `i:${uid}`;
export const apiFlowKey = (clientId: string, identifier: string, network: string) => `a:${clientId}:${network}:${identifier}`;

const sealOf = (key: string, clientId: string, identifier: string, network: string) =>
  createHmac('sha256', key).update(`flow\u0000${clientId}\u0000${identifier}\u0000${network}`).digest('base64url').slice(0, 22);

/**
 * An API flow's network as an emailed link carries it, so the link opens on any device. Sealed with
 * the code key: a hand-made link naming someone else's network would otherwise spend the tries of
 * the code that person is typing.
 */
export function sealNetwork(keys: Keyring, clientId: string, identifier: string, network: string): string {
  return `${network}~${sealOf(keys.current().secret, clientId, identifier, network)}`;
}

/** The network a link's sealed value names, when one of `keys` sealed it for this client and identifier. */
export function openNetwork(keys: Keyring, clientId: string, identifier: string, sealed: string): string | undefined {
  const at = sealed.lastIndexOf('~');
  if (at < 0) return undefined;
  const network = sealed.slice(0, at);
  const given = Buffer.from(sealed.slice(at + 1));
  const valid = keys.all().some((key) => {
    const expected = Buffer.from(sealOf(key.secret, clientId, identifier, network));
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  return valid ? network : undefined;
}
