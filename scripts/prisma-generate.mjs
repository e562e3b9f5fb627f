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
  readCompilerFromFile(join(root, `src/storage/generated/${provider}/internal/class.ts`));
}

// The client gets Prisma's query compiler from a module whose one export is the WebAssembly in
// base64 (4.4 MB). An imported module stays loaded, with its source text and that string, for the
// life of the process: 8.8 MB of the 46 MB a server holds at rest, and the heap grows in proportion
// to what it holds. Reading the same file leaves both to the collector once the module is compiled.
function readCompilerFromFile(classFile) {
  const generated = readFileSync(classFile, 'utf8');
  const load = /const \{ wasm \} = await import\(("[^"]+\.wasm-base64\.mjs")\)\n(\s*)return await decodeBase64AsWasm\(wasm\)/;
  const match = load.exec(generated);
  if (!match) throw new Error(`${classFile}: Prisma no longer imports its query compiler as scripts/prisma-generate.mjs expects`);
  const [, specifier, indent] = match;
  const read = [
    `const { readFile } = await import('node:fs/promises')`,
    `const { createRequire } = await import('node:module')`,
    `// The file is \`const wasm = "<base64>";\` and an export (see scripts/prisma-generate.mjs).`,
    `const text = await readFile(createRequire(import.meta.url).resolve(${specifier}), 'utf8')`,
    `return await decodeBase64AsWasm(text.slice(text.indexOf('"') + 1, text.lastIndexOf('"')))`,
  ].join(`\n${indent}`);
  writeFileSync(classFile, generated.replace(load, read));
}
