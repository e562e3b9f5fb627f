// `sesame links create|revoke`: welcome and custom-lifetime sign-in links an operator sends.
import { normalizeEmail } from '../passwordless/identifiers.js';
import { createOperatorLink, linkUrl, operatorLinkTtl, type OperatorLinkType } from '../passwordless/links.js';
import { findClientMetadata } from '../storage/clients.js';
import { revokeLink, revokeLinksOf } from '../storage/magic-links.js';
import { ensureSecretList } from '../storage/secrets.js';
import { keyring } from '../passwordless/keyring.js';
import { type Command, UsageError, output, withDb } from './common.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90", "90s", "30m", "2h", "3d" → seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!match) throw new UsageError(`--ttl: expected a duration like 90s, 30m, 2h or 3d (got "${text}")`);
  return Number(match[1]) * UNITS[match[2] || 's']!;
}

export const linksCommand: Command = {
  summary: [
    'Sign-in links an operator sends: welcome (3 days) or custom (10 s to 30 days).',
    '  create  --type welcome|custom --email <address> [--ttl 2h] [--client <id>]   prints the URL',
    '  revoke  <uuid> | --email <address>',
  ].join('\n'),
  usage: 'create|revoke [options]',
  options: {
    type: { type: 'string' },
    email: { type: 'string' },
    ttl: { type: 'string' },
    client: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    const [action, target] = positionals;
    const json = values.json === true;
    const email = values.email === undefined ? undefined : normalizeEmail(values.email);
    if (values.email !== undefined && !email) throw new UsageError(`--email: not a valid address: ${String(values.email)}`);
    if (action === 'revoke') {
      if (!target && !email) throw new UsageError('links revoke: give a link uuid or --email');
      const revoked = await withDb((db) => (target ? revokeLink(db, target).then(Number) : revokeLinksOf(db, email!)));
      if (target && !revoked) throw new UsageError(`links revoke: no live link ${target}`);
      return output(json, { revoked }, [`revoked ${revoked} link${revoked === 1 ? '' : 's'}`]);
    }
    if (action !== 'create') throw new UsageError('links: expected create or revoke');
    const type = values.type as string | undefined;
    if (type !== 'welcome' && type !== 'custom') throw new UsageError('links create: --type must be welcome or custom');
    if (!email) throw new UsageError('links create: --email is required');
    const requested = values.ttl === undefined ? undefined : parseDuration(values.ttl as string);
    const clientId = values.client as string | undefined;
    const created = await withDb(async (db, config) => {
      let ttl: number;
      try {
        ttl = operatorLinkTtl(type as OperatorLinkType, requested, config.links);
      } catch (err) {
        throw new UsageError(`links create: ${(err as Error).message}`);
      }
      if (clientId && !config.clients.some((c) => c.client_id === clientId) && !(await findClientMetadata(db, clientId))) {
        throw new UsageError(`links create: no client ${clientId}`);
      }
      const keys = config.secrets.codeKeys ? [...config.secrets.codeKeys] : await ensureSecretList(db, 'code-keys');
      const link = await createOperatorLink(db, keyring(keys), { type: type as OperatorLinkType, email, clientId, ttl });
      return { url: linkUrl(config.issuer, link.uuid, link.token), expiresAt: link.expiresAt.toISOString(), uuid: link.uuid };
    });
    output(json, { url: created.url, expiresAt: created.expiresAt }, [created.url, `expires ${created.expiresAt} (uuid ${created.uuid})`]);
  },
};
