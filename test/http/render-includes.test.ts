// The pages' partials are included by absolute name under views/: EJS looks a relative include up
// on disk (fs.existsSync) on every render, even with its cache on, and the hosted pages render on
// every step of a sign-in (issue 18).
import fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRenderer } from '../../src/http/render.js';
import { viewsDir } from '../../src/paths.js';

const locals = {
  title: 'Sign in',
  uid: 'u1',
  csrf: 'c1',
  clientName: 'Bench App',
  email: 'ada@example.com',
  identifierKind: 'email',
  brand: undefined,
  policies: {},
  externals: [],
  passkeys: false,
  passkeyOnly: false,
  notice: null,
  codeSent: true,
  error: 'code.invalid',
  attemptsLeft: 2,
};

function templates(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return templates(path);
    return entry.name.endsWith('.ejs') ? [path] : [];
  });
}

describe('page partials', () => {
  afterEach(() => vi.restoreAllMocks());

  it('a cached render of a page with partials asks the disk nothing, and carries what the partials show', async () => {
    const renderer = createRenderer({ productName: 'Sesame', cache: true });
    const first = await renderer.page('email', 'en', locals);
    const existsSync = vi.spyOn(fs, 'existsSync');
    const statSync = vi.spyOn(fs, 'statSync');
    const readFileSync = vi.spyOn(fs, 'readFileSync');
    const again = await renderer.page('email', 'en', locals);
    expect({ existsSync: existsSync.mock.calls, statSync: statSync.mock.calls, readFileSync: readFileSync.mock.calls }).toEqual({
      existsSync: [],
      statSync: [],
      readFileSync: [],
    });
    expect(again).toBe(first);
    // _messages (the error with its attempts left) and _code-form (the code field) are in the page.
    expect(again).toContain('id="form-error"');
    expect(again).toMatch(/<input[^>]*name="code"/);
  });

  it('every include in views/ names its partial from the views root', () => {
    const relative = templates(viewsDir).flatMap((file) =>
      [...fs.readFileSync(file, 'utf8').matchAll(/include\(\s*['"]([^'"]+)['"]/g)].filter((m) => !m[1]!.startsWith('/')).map((m) => `${file}: ${m[1]}`),
    );
    expect(relative).toEqual([]);
  });
});
