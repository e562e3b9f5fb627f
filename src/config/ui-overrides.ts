// The operator's overrides of shipped text (`ui.overridesDir`), read and checked once at start:
// `locales/<lang>.json` replaces message strings, `email/<name>.ejs` replaces an email template. Only
// what Sesame ships can be replaced, so a typo stops the start instead of silently doing nothing.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ejs from 'ejs';
import { viewsDir } from '../paths.js';
import { shippedCatalog, supportedLocales } from '../i18n/i18n.js';

export interface UiOverrides {
  /** Per locale, the keys replaced. */
  catalogs: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Email template file name (`code.html.ejs`) -> the operator's file replacing it. */
  emails: Readonly<Record<string, string>>;
}

/** A problem with one file of the folder; load.ts names `ui.overridesDir` before it. */
export class OverrideProblem extends Error {}

const FOLDERS = ['locales', 'email'];

function placeholders(text: string): Set<string> {
  return new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!));
}

function readCatalog(file: string, lang: string): Record<string, string> {
  const shipped = shippedCatalog(lang);
  if (!shipped) throw new OverrideProblem(`${file}: no shipped locale ${lang} (shipped: ${supportedLocales.join(', ')})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new OverrideProblem(`${file}: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new OverrideProblem(`${file}: expected a JSON object of message keys and strings`);
  const english = shippedCatalog('en') ?? {};
  for (const [key, value] of Object.entries(parsed)) {
    const original = shipped[key] ?? english[key];
    if (original === undefined) throw new OverrideProblem(`${file}: unknown key ${key}`);
    if (typeof value !== 'string') throw new OverrideProblem(`${file}: ${key} must be a string`);
    // A placeholder the page does not pass would be shown as is ("{code}"), so it is a mistake.
    const allowed = placeholders(original);
    const extra = [...placeholders(value)].find((name) => !allowed.has(name));
    if (extra) throw new OverrideProblem(`${file}: ${key} uses {${extra}}, which the original does not have (it has ${[...allowed].map((n) => `{${n}}`).join(' ') || 'none'})`);
  }
  return parsed as Record<string, string>;
}

function readEmails(dir: string): Record<string, string> {
  const shipped = new Set(readdirSync(join(viewsDir, 'email')));
  const emails: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (!shipped.has(name)) throw new OverrideProblem(`${file}: no shipped email template ${name} (shipped: ${[...shipped].sort().join(', ')})`);
    try {
      ejs.compile(readFileSync(file, 'utf8'), { filename: file });
    } catch (err) {
      throw new OverrideProblem(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
    emails[name] = file;
  }
  return emails;
}

/** Reads and checks the overrides folder; throws an OverrideProblem naming the file at fault. */
export function loadUiOverrides(dir: string): UiOverrides {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new OverrideProblem(`${root}: not a folder`);
  for (const name of readdirSync(root)) {
    if (!FOLDERS.includes(name)) throw new OverrideProblem(`${join(root, name)}: unexpected; the folder holds only ${FOLDERS.join('/ and ')}/`);
  }
  const catalogs: Record<string, Record<string, string>> = {};
  const localesDir = join(root, 'locales');
  if (existsSync(localesDir)) {
    for (const name of readdirSync(localesDir)) {
      const file = join(localesDir, name);
      if (!name.endsWith('.json')) throw new OverrideProblem(`${file}: expected <lang>.json`);
      catalogs[name.slice(0, -5)] = readCatalog(file, name.slice(0, -5));
    }
  }
  const emailDir = join(root, 'email');
  return { catalogs, emails: existsSync(emailDir) ? readEmails(emailDir) : {} };
}
