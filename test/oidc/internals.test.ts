// The seam into oidc-provider's internals must keep resolving: an upgrade that moves or renames
// them fails here first, in one place.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import Provider from 'oidc-provider';
import { clientNeedsSecret, internalsLoaded } from '../../src/oidc/internals.js';

describe('oidc-provider internals seam', () => {
  it('loads the grant helpers and issueTokens', () => {
    expect(internalsLoaded).toBe(true);
  });

  it('pins oidc-provider to an exact version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['oidc-provider']).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('is the only file that imports oidc-provider/lib', async () => {
    const { execFileSync } = await import('node:child_process');
    const hits = execFileSync('grep', ['-rl', 'oidc-provider/lib', 'src'], { encoding: 'utf8' }).trim().split('\n');
    expect(hits).toEqual(['src/oidc/internals.ts']);
  });
});

describe('clientNeedsSecret', () => {
  it('asks for a secret for secret-based authentication and HS* signing only', () => {
    const provider = new Provider('http://127.0.0.1:9', { features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true } } });
    expect([
      clientNeedsSecret(provider, {}),
      clientNeedsSecret(provider, { token_endpoint_auth_method: 'client_secret_post' }),
      clientNeedsSecret(provider, { token_endpoint_auth_method: 'none' }),
      clientNeedsSecret(provider, { token_endpoint_auth_method: 'private_key_jwt' }),
      clientNeedsSecret(provider, { token_endpoint_auth_method: 'none', id_token_signed_response_alg: 'HS256' }),
    ]).toEqual([true, true, false, false, true]);
  });
});
