#!/usr/bin/env node
// Entry point of the `sesame` command; the compiled CLI lives in dist/ (built by `npm ci`).
import('../dist/cli.js').catch((err) => {
  console.error(`sesame: cannot load the compiled CLI (${err.message}); run \`npm run build\` first`);
  process.exit(1);
});
