// The README's settings table is generated from the schema; this keeps the two from drifting.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { settingsTable } from '../../scripts/settings-table.js';

describe('README settings table', () => {
  it('matches the config schema (run `npm run docs:settings` to regenerate)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('\n', readme.indexOf('<!-- settings:start')) + 1;
    const end = readme.indexOf('<!-- settings:end');
    expect(readme.slice(start, end).trim()).toBe(settingsTable());
  });
});
