// The seam into oidc-provider's internals must keep resolving: an upgrade that moves or renames
// them fails here first, in one place.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { internalsLoaded } from '../../src/oidc/internals.js';

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
