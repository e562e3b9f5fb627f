// Every catalog in views/locales says everything English says: the same keys, the same {placeholders}
// and the same markup per key, so no page shows a raw key or an unfilled "{client}" in any language.
// The list of catalogs is read from the folder: a new language is checked as soon as its file lands.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localesDir } from '../../src/paths.js';
import { supportedLocales } from '../../src/i18n/i18n.js';

const files = readdirSync(localesDir).filter((f) => f.endsWith('.json'));
const catalogs = Object.fromEntries(files.map((f) => [f.slice(0, -5), JSON.parse(readFileSync(join(localesDir, f), 'utf8')) as Record<string, unknown>]));
const english = catalogs.en as Record<string, string>;

/** What a value must carry over from English: its placeholders and its tags, sorted. */
const placeholders = (value: string) => [...value.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();
const markup = (value: string) => [...value.matchAll(/<\/?[a-z][^>]*>/gi)].map((m) => m[0]).sort();

describe('message catalogs', () => {
  it('include English, French, German, Spanish, Brazilian Portuguese and Japanese, each named by its BCP 47 tag', () => {
    expect(Object.keys(catalogs)).toEqual(expect.arrayContaining(['en', 'fr', 'de', 'es', 'pt-BR', 'ja']));
    for (const locale of Object.keys(catalogs)) expect(Intl.getCanonicalLocales(locale)).toEqual([locale]);
    // What negotiation and the config's ui.defaultLocale accept is exactly this folder.
    expect(supportedLocales).toEqual(Object.keys(catalogs).sort());
  });

  describe.each(Object.keys(catalogs).filter((locale) => locale !== 'en'))('%s', (locale) => {
    const catalog = catalogs[locale]!;

    it("has exactly English's keys, each a non-empty string", () => {
      expect({ missing: Object.keys(english).filter((key) => !(key in catalog)), extra: Object.keys(catalog).filter((key) => !(key in english)) }).toEqual({
        missing: [],
        extra: [],
      });
      expect(Object.entries(catalog).filter(([, value]) => typeof value !== 'string' || value.trim() === '')).toEqual([]);
    });

    it("keeps each key's placeholders and markup", () => {
      const differing = Object.keys(english)
        .filter((key) => typeof catalog[key] === 'string')
        .flatMap((key) => {
          const value = catalog[key] as string;
          const problems: string[] = [];
          if (placeholders(value).join() !== placeholders(english[key]!).join()) problems.push(`${key}: {${placeholders(value).join('} {')}}`);
          if (markup(value).join() !== markup(english[key]!).join()) problems.push(`${key}: ${markup(value).join(' ')}`);
          return problems;
        });
      expect(differing).toEqual([]);
    });

    it('is translated: few values are left as the English text', () => {
      // Product words ("Passkey", "SMS", "Code") may stay; a copied English file may not.
      const same = Object.keys(english).filter((key) => catalog[key] === english[key]);
      expect(same.length, same.join(', ')).toBeLessThan(Object.keys(english).length * 0.05);
    });
  });
});
