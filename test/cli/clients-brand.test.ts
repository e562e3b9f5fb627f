// `sesame clients add|update` with a client's brand (--logo-uri, --brand-color, --support-uri): stored
// as its metadata, refused with one line when a page could not show it safely, and a bad overrides
// folder stopping the command as it would the server. Real child processes on a real database.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { failure, lastJson, sesame } from '../helpers/cli.js';

const CALLBACK = 'http://127.0.0.1:9/cb';

describe('sesame clients with a brand', { timeout: 300_000 }, () => {
  let db: TestDatabase;
  let dir: string;
  let config: string;
  const run = (...args: string[]) => sesame(db.url, config, args);

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    dir = mkdtempSync(join(tmpdir(), 'sesame-clients-brand-'));
    config = join(dir, 'sesame.json');
    writeFileSync(config, '{}');
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores the brand flags as client metadata and changes them on update', async () => {
    const brand = ['--name', 'Acme', '--logo-uri', 'https://cdn.acme.test/logo.png', '--brand-color', '#112233', '--support-uri', 'mailto:help@acme.test'];
    expect(lastJson(await run('clients', 'add', '--id', 'acme', '--public', '--redirect-uri', CALLBACK, ...brand, '--json'))).toEqual({ client_id: 'acme', client_secret: null });
    expect(lastJson(await run('clients', 'update', 'acme', '--brand-color', '#445566', '--json'))).toEqual({ client_id: 'acme', client_secret: null });
    const { clients } = lastJson(await run('clients', 'list', '--json')) as { clients: Array<Record<string, unknown>> };
    expect(clients.find((c) => c.client_id === 'acme')).toEqual(
      expect.objectContaining({ client_name: 'Acme', logo_uri: 'https://cdn.acme.test/logo.png', brand_color: '#445566', support_uri: 'mailto:help@acme.test' }),
    );
  });

  it('refuses a colour or logo a page could not show safely, and a flag clashing with --metadata', async () => {
    expect(failure(await run('clients', 'add', '--id', 'x', '--redirect-uri', CALLBACK, '--brand-color', 'red;}body{display:none'))).toBe(
      'sesame: clients add: invalid client: brand_color must be a colour #rrggbb, like #1a73e8',
    );
    expect(failure(await run('clients', 'update', 'acme', '--logo-uri', 'javascript:alert(1)'))).toBe(
      'sesame: clients update: invalid client: logo_uri must be an https URL of a host name (http only on localhost), like https://cdn.example.com/logo.png',
    );
    expect(failure(await run('clients', 'update', 'acme', '--brand-color', '#000000', '--metadata', '{"brand_color":"#ffffff"}'))).toBe(
      'sesame: --brand-color and --metadata both set brand_color; use one',
    );
  });

  it('stops on a bad overrides folder, naming the file', async () => {
    const overrides = join(dir, 'overrides');
    const bad = join(overrides, 'locales');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'en.json'), '{"no.such.key": "x"}');
    writeFileSync(config, JSON.stringify({ ui: { overridesDir: overrides } }));
    try {
      expect(failure(await run('clients', 'list'))).toBe(`sesame: invalid configuration at ui.overridesDir: ${bad}/en.json: unknown key no.such.key`);
    } finally {
      writeFileSync(config, '{}');
    }
  });
});
