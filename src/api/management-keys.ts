// The management API's signing keys: the published keys (public JWKs only) and their rotation, the
// same as `sesame keys list|rotate` (oidc/signing-key-admin.ts), audited with the management client.
// Every instance picks the new keys up within keyCheckInterval, as after the CLI's rotation.
import { z } from 'zod';
import { listKeys, rotateKeys, type KeyView } from '../oidc/signing-key-admin.js';
import { managementClientOf } from './admin-auth.js';
import { route, type ManagementRoute } from './management-routes.js';

const date = z.iso.datetime({ offset: true });

const KeySchema = z.object({
  kid: z.string(),
  alg: z.enum(['RS256', 'ES256']),
  use: z.literal('sig'),
  state: z.enum(['active', 'retired']).describe('Active keys sign; retired ones stay published until `publishedUntil` to verify what they signed.'),
  createdAt: date,
  retiredAt: date.nullable(),
  publishedUntil: date.nullable(),
  jwk: z.record(z.string(), z.string()).describe('The public JWK (no private member).'),
});
const KeysSchema = z.object({ keys: z.array(KeySchema) });

function keyView(key: KeyView): z.input<typeof KeySchema> {
  return {
    ...key,
    alg: key.alg as 'RS256' | 'ES256',
    createdAt: key.createdAt.toISOString(),
    retiredAt: key.retiredAt?.toISOString() ?? null,
    publishedUntil: key.publishedUntil?.toISOString() ?? null,
    jwk: key.jwk as Record<string, string>,
  };
}

export const KEY_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'get',
    path: '/keys',
    scope: 'keys:read',
    summary: 'The published signing keys, newest first, with their public JWKs.',
    params: {},
    ok: { 200: { description: 'The keys.', schema: KeysSchema } },
    async handle(s) {
      return { status: 200, body: { keys: (await listKeys(s.db)).map(keyView) } };
    },
  }),
  route({
    method: 'post',
    path: '/keys/rotate',
    scope: 'keys:write',
    summary: 'Retires the active keys and makes new ones (RS256 and ES256); the old ones stay published until every token they signed has expired.',
    params: {},
    ok: { 201: { description: 'The published keys after the rotation.', schema: KeysSchema } },
    async handle(s, ctx) {
      const client = managementClientOf(ctx);
      const keys = await rotateKeys(s.db, s.config, { via: 'management_api', actor: `management_api:${client}`, clientId: client, ip: ctx.ip });
      return { status: 201, body: { keys: keys.map(keyView) } };
    },
  }),
];
