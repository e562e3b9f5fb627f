// Prints the README's settings table from the config schema (one row per setting, nested keys
// dotted). `npm run docs:settings` rewrites it in README.md; test/config/settings-table.test.ts keeps README in sync.
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../src/config/schema.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (s.type === 'array') return 'list';
  if (Array.isArray(s.type)) return s.type.join(' \\| ');
  const variants = s.anyOf ?? s.oneOf;
  if (!s.type && variants) return variants.map(typeOf).join(' \\| ');
  return s.type ?? 'object';
}

function rows(schema: JsonSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    // A variant's `type` is already in its name.
    if (key === 'type' && prefix.includes('[type=')) continue;
    const path = prefix + key;
    const nested = prop.type === 'object' && prop.properties;
    if (nested) {
      out.push(...rows(prop, `${path}.`));
      continue;
    }
    const def = prop.default === undefined ? '' : `\`${JSON.stringify(prop.default)}\``;
    out.push(`| \`${path}\` | ${typeOf(prop)} | ${def} | ${(prop.description ?? '').replace(/\|/g, '\\|')} |`);
    if (prop.type === 'array' && prop.items?.properties) out.push(...rows(prop.items, `${path}[].`));
    // A list of variants (connections): one block of rows per variant, named by its `type`.
    for (const variant of prop.items?.oneOf ?? prop.items?.anyOf ?? []) {
      const type = variant.properties?.type as (JsonSchema & { const?: string }) | undefined;
      if (variant.properties) out.push(...rows(variant, `${path}[type=${type?.const ?? '?'}].`));
    }
  }
  return out;
}

export function settingsTable(): string {
  const json = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return ['| setting | type | default | what it does |', '|---|---|---|---|', ...rows(json)].join('\n');
}

/** Replaces the table between the README's settings markers. */
function writeReadme(): void {
  const path = new URL('../README.md', import.meta.url);
  const readme = readFileSync(path, 'utf8');
  const start = readme.indexOf('\n', readme.indexOf('<!-- settings:start')) + 1;
  const end = readme.indexOf('<!-- settings:end');
  writeFileSync(path, `${readme.slice(0, start)}${settingsTable()}\n${readme.slice(end)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--write')) writeReadme();
  else console.log(settingsTable());
}
