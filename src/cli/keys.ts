// `sesame keys list|rotate`: signing keys. Rotation keeps the old keys published until every token
// they signed has expired; running instances pick up the new keys within a minute.
import { listSigningKeys } from '../storage/signing-keys.js';
import { rotateKeys } from '../oidc/signing-key-admin.js';
import { type Command, UsageError, output, withDb } from './common.js';

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
    const keys = await withDb(async (db, config) => {
      if (action === 'rotate') await rotateKeys(db, config, { via: 'cli' });
      return listSigningKeys(db);
    });
    const rows = keys.map((k) => ({ ...k, state: k.retiredAt ? 'retired' : 'active' }));
    output(
      json,
      { keys: rows },
      rows.map((k) => `${k.kid}\t${k.alg}\t${k.state}${k.removeAt ? `\tpublished until ${k.removeAt.toISOString()}` : ''}`),
    );
  },
};
