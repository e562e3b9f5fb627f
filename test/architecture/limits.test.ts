// Limits have one home (issue 13 item 3): every counter key is built by a record of
// src/risk/limits.ts, and only src/risk/ (and storage/counters.ts itself) reaches the counters. This
// reads every other file of src/ and fails naming each string that starts like a counter key and
// each import of the counters.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as limits from '../../src/risk/limits.js';

const repo = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const OWNERS = ['src/risk/', 'src/storage/'];
/** The counters and their chains: only src/risk/ and src/storage/ may call them. */
const COUNTERS = ['src/storage/counters.ts', 'src/storage/counter-chains.ts'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(repo, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** The fixed start of every key the records build, e.g. `send-cool` (from `send-cool:<id>:<scope>`). */
function keyPrefixes(): string[] {
  const records = Object.values(limits).filter((v): v is limits.Limit<string[], unknown> => typeof v === 'object' && v !== null && 'key' in v);
  const prefixes = records.map((r) =>
    r
      .key(...Array<string>(r.key.length).fill('\u0000'))
      .split('\u0000')[0]!
      .replace(/[:-]$/, ''),
  );
  return [...new Set(prefixes)].sort();
}

/** Strings and templates of `source` that start like a counter key, as "file:line `text`". */
export function inlineKeys(file: string, source: string, prefixes: string[]): string[] {
  const found: string[] = [];
  const tree = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node): void => {
    const text = ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) ? node.text : ts.isTemplateExpression(node) ? node.head.text : undefined;
    if (text !== undefined && prefixes.some((p) => text.startsWith(`${p}:`) || text.startsWith(`${p}-`) || (ts.isTemplateExpression(node) && text === p))) {
      found.push(`${file}:${tree.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${node.getText()}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(tree);
  return found;
}

/** Whether `source` (of `file`) imports the counters or their chains. */
export function importsCounters(file: string, source: string): boolean {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.filter((f) => f.fileName.startsWith('.'))
    .some((f) => COUNTERS.includes(relative(repo, resolve(repo, dirname(file), f.fileName)).replace(/\.js$/, '.ts')));
}

describe('limits live in src/risk/', () => {
  const prefixes = keyPrefixes();
  const files = sourceFiles('src').filter((f) => !OWNERS.some((owner) => f.startsWith(owner)));

  it('knows the key of every limit', () => {
    // A reader that found no records would pass every check below.
    expect(prefixes).toEqual(expect.arrayContaining(['send-cool', 'otp-client', 'sms-prefix', 'send-client', 'assertion', 'external-assertion']));
    expect(files.length).toBeGreaterThan(60);
  });

  it('builds no counter key outside src/risk/', () => {
    expect(files.flatMap((f) => inlineKeys(f, readFileSync(join(repo, f), 'utf8'), prefixes))).toEqual([]);
  });

  it('calls the counters only from src/risk/ and src/storage/', () => {
    expect(files.filter((f) => importsCounters(f, readFileSync(join(repo, f), 'utf8')))).toEqual([]);
  });
});

describe('the limit checks themselves', () => {
  const source = [
    "import { hitWindow } from '../storage/counters.js';",
    '// a comment naming `send-cool:${id}` is fine',
    'const a = `send-cool:${id}:${scope}`;',
    "const b = 'otp-client:' + id;",
    'const c = `${prefix}:send-cool:`;',
    "const d = 'sending: ok';",
  ].join('\n');

  it('names each string starting like a key, not comments or other strings', () => {
    expect(inlineKeys('src/api/x.ts', source, ['otp-client', 'send-cool'])).toEqual(['src/api/x.ts:3 `send-cool:${id}:${scope}`', "src/api/x.ts:4 'otp-client:'"]);
  });

  it('names an import of the counters', () => {
    expect(importsCounters('src/api/x.ts', source)).toBe(true);
    expect(importsCounters('src/api/x.ts', "import { check } from '../risk/check.js';")).toBe(false);
  });
});
