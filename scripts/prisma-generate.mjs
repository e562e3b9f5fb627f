#!/usr/bin/env node
// Generates one Prisma client per provider from prisma/schema.prisma, offline.
// The Prisma 7 CLI wants a native schema engine at start even though `generate` never runs it,
// and its download host is unreachable on our machines; any existing file satisfies the check.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prismaCli = require.resolve('prisma/build/index.js');

const source = readFileSync(join(root, 'prisma/schema.prisma'), 'utf8');
const variants = {
  sqlite: source,
  postgresql: source.replace('provider = "sqlite"', 'provider = "postgresql"').replace('generated/sqlite', 'generated/postgresql'),
};

const outDir = join(root, 'prisma/.generated');
mkdirSync(outDir, { recursive: true });
for (const [provider, text] of Object.entries(variants)) {
  const file = join(outDir, `${provider}.prisma`);
  // Paths in the schema are relative to its file; prisma/.generated is one level below prisma/.
  writeFileSync(file, text.replace('"../src/', '"../../src/'));
  execFileSync(process.execPath, [prismaCli, 'generate', '--schema', file], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
}
