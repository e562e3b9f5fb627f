// Message catalogs (views/locales/<lang>.json) and locale negotiation: ui_locales first, then
// Accept-Language, then the configured default. A catalog's file name is its BCP 47 tag (`pt-BR.json`),
// the tag pages carry in `lang`.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { localesDir } from '../paths.js';

type Catalog = Record<string, string>;

const catalogs: Record<string, Catalog> = Object.fromEntries(
  readdirSync(localesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(localesDir, f), 'utf8')) as Catalog]),
);

export const supportedLocales = Object.keys(catalogs).sort();

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/** A translator for `locale`; missing keys fall back to English, then to the key itself. */
export function translator(locale: string): Translate {
  const catalog = catalogs[locale] ?? {};
  const english = catalogs.en ?? {};
  return (key, vars = {}) => {
    const template = catalog[key] ?? english[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
  };
}

function primary(tag: string): string {
  return tag.trim().toLowerCase().split('-')[0] ?? '';
}

/**
 * Of `locales` (catalog tags), the one that speaks the BCP 47 `tag`: the same tag (any case), else
 * one of its language, a bare language's catalog first (`pt`, `pt-PT` -> `pt-BR`); else undefined.
 */
export function matchLocale(tag: string, locales: readonly string[]): string | undefined {
  const wanted = tag.trim().toLowerCase().replace(/_/g, '-');
  if (!wanted || wanted === '*') return undefined;
  const exact = locales.find((locale) => locale.toLowerCase() === wanted);
  if (exact) return exact;
  const language = primary(wanted);
  return locales.find((locale) => locale.toLowerCase() === language) ?? locales.find((locale) => primary(locale) === language);
}

/** Picks the first supported language of `ui_locales` (space separated), then Accept-Language. */
export function negotiateLocale(uiLocales: string | undefined, acceptLanguage: string | undefined, fallback: string): string {
  for (const tag of (uiLocales ?? '').split(' ')) {
    const locale = matchLocale(tag, supportedLocales);
    if (locale) return locale;
  }
  const ranked = (acceptLanguage ?? '')
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag, q: q ? Number(q.slice(2)) || 0 : 1, index };
    })
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const r of ranked) {
    const locale = matchLocale(r.tag, supportedLocales);
    if (locale) return locale;
  }
  return fallback;
}
