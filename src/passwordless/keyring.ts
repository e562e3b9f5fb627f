// The code keys (secrets.codeKeys, newest first), built once by the server: they MAC codes, links,
// login tickets, sealed networks and external hand-off state. Stored rows name their key by id.
import { createHash } from 'node:crypto';

export interface Key {
  /** What rows store to name the key: the first 12 hex digits of its SHA-256. */
  id: string;
  secret: string;
}

export interface Keyring {
  /** The key new codes, links, tickets and seals are made with: the newest. */
  current(): Key;
  /** The key a stored row names, while it is still configured. */
  find(id: string): Key | undefined;
  /** Every key, newest first, for values that carry no key id (sealed networks). */
  all(): readonly Key[];
}

const keyIdOf = (secret: string) => createHash('sha256').update(secret).digest('hex').slice(0, 12);

export function keyring(secrets: readonly string[]): Keyring {
  if (secrets.length === 0) throw new Error('a keyring needs at least one key');
  const keys = Object.freeze(secrets.map((secret) => Object.freeze({ id: keyIdOf(secret), secret })));
  return {
    current: () => keys[0]!,
    find: (id) => keys.find((key) => key.id === id),
    all: () => keys,
  };
}
