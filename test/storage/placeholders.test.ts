// The one `?` -> `$n` rewrite (src/storage/placeholders.ts): placeholders numbered in order, and a
// `?` that is text (in a literal, a quoted identifier or a comment) left as it is.
import { describe, expect, it } from 'vitest';
import { numberPlaceholders } from '../../src/storage/placeholders.js';

describe('numberPlaceholders', () => {
  it('numbers placeholders in order', () => {
    expect(numberPlaceholders('SELECT 1 FROM "T" WHERE "a" = ? AND "b" IN (?, ?) LIMIT ?')).toBe('SELECT 1 FROM "T" WHERE "a" = $1 AND "b" IN ($2, $3) LIMIT $4');
    expect(numberPlaceholders('SELECT ?, ??')).toBe('SELECT $1, $2$3');
    expect(numberPlaceholders('SELECT 1')).toBe('SELECT 1');
  });

  it("leaves a '?' and '??' in string literals alone, with doubled quotes inside", () => {
    expect(numberPlaceholders("SELECT '?' AS q, ? AS p")).toBe("SELECT '?' AS q, $1 AS p");
    expect(numberPlaceholders("SELECT '??', ?")).toBe("SELECT '??', $1");
    expect(numberPlaceholders("SELECT 'it''s ?', ?")).toBe("SELECT 'it''s ?', $1");
    expect(numberPlaceholders("SELECT E'\\' ?', ?")).toBe("SELECT E'\\' ?', $1");
    expect(numberPlaceholders("SELECT 'a\\', ?")).toBe("SELECT 'a\\', $1");
  });

  it('leaves quoted identifiers, comments and dollar-quoted text alone', () => {
    expect(numberPlaceholders('SELECT "what?" FROM "T" WHERE "x""?" = ?')).toBe('SELECT "what?" FROM "T" WHERE "x""?" = $1');
    expect(numberPlaceholders('SELECT ? -- why?\n, ?')).toBe('SELECT $1 -- why?\n, $2');
    expect(numberPlaceholders('SELECT /* a? /* nested? */ still? */ ?')).toBe('SELECT /* a? /* nested? */ still? */ $1');
    expect(numberPlaceholders('SELECT $$?$$, $tag$ ? $$ ? $tag$, ?')).toBe('SELECT $$?$$, $tag$ ? $$ ? $tag$, $1');
  });
});
