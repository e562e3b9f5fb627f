// Keys of passwordless state: the hosted flow keys codes by interaction, the API flow by client,
// requester network (requester-network.ts) and identifier, so the same code never crosses from one
// client to another, and a send from another network (same public client, same address) never
// retires the code the requester is using. Keys are made and read only here (encode/decode).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Keyring } from './keyring.js';

/** The sign-in a code or login link belongs to. */
export type Flow = { kind: 'interaction'; uid: string } | { kind: 'api'; clientId: string; network: string; identifier: string } | { kind: 'mfa'; id: string };

/**
 * What a stored key names. An API flow's parts are not given back: client ids and IPv6 networks
 * hold colons, so the key cannot be split again (nothing needs to).
 */
export type ParsedFlowKey = { kind: 'interaction'; uid: string } | { kind: 'api' } | { kind: 'mfa' };

/**
 * Tags of the stored keys (`i:<uid>`, `a:<client>:<network>:<identifier>`, `m:<id>` for a code sent
 * as a second factor, `id` naming its challenge); stored rows carry them.
 */
const TAGS = { interaction: 'i', api: 'a', mfa: 'm' } as const;

/** The stored key of `flow`: codes and login links are keyed by it. */
export function encodeFlowKey(flow: Flow): string {
  if (flow.kind === 'interaction') return `${TAGS.interaction}:${flow.uid}`;
  if (flow.kind === 'mfa') return `${TAGS.mfa}:${flow.id}`;
  return `${TAGS.api}:${flow.clientId}:${flow.network}:${flow.identifier}`;
}

/** The flow a stored key names; null for a key of no known kind. */
export function decodeFlowKey(key: string): ParsedFlowKey | null {
  const at = key.indexOf(':');
  if (at < 0) return null;
  const tag = key.slice(0, at);
  if (tag === TAGS.interaction) return { kind: 'interaction', uid: key.slice(at + 1) };
  if (tag === TAGS.api) return { kind: 'api' };
  if (tag === TAGS.mfa) return { kind: 'mfa' };
  return null;
}

export const interactionFlowKey = (uid: string) => encodeFlowKey({ kind: 'interaction', uid });
export const mfaFlowKey = (id: string) => encodeFlowKey({ kind: 'mfa', id });
export const apiFlowKey = (clientId: string, identifier: string, network: string) => encodeFlowKey({ kind: 'api', clientId, network, identifier });

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
