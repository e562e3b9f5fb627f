// `sesame keys list|rotate`: signing keys. Rotation keeps the old keys published until every token
// they signed has expired; running instances pick up the new keys within a minute.
import { listSigningKeys, rotateSigningKeys } from '../storage/signing-keys.js';
import { type Command, UsageError, output, withDb } from './common.js';
import type { LoadedConfig } from '../config/load.js';

/** The longest a token signed by a key can live, plus a minute of clock skew. */
export function keyOverlapSeconds(config: LoadedConfig): number {
  return Math.max(config.tokens.idToken, config.tokens.accessToken, ...config.apis.map((a) => a.accessTokenTtl)) + 60;
}

export const keysCommand: Command = {
  summary: ['Manage signing keys (RS256 and ES256).', '  list    shows keys and their state', '  rotate  creates new keys; old ones stay published until their tokens expire'].join(
    '\n',
  ),
  usage: 'list|rotate [--json]',
  options: { json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const [action] = positionals;
    const json = values.json === true;
    if (action !== 'list' && action !== 'rotate') throw new UsageError('keys: expected list or rotate');
    const keys = await withDb((db, config) => (action === 'rotate' ? rotateSigningKeys(db, keyOverlapSeconds(config)) : listSigningKeys(db)));
    const rows = keys.map((k) => ({ ...k, state: k.retiredAt ? 'retired' : 'active' }));
    output(
      json,
      { keys: rows },
      rows.map((k) => `${k.kid}\t${k.alg}\t${k.state}${k.removeAt ? `\tpublished until ${k.removeAt.toISOString()}` : ''}`),
    );
  },
};
