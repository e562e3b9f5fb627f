// The `sesame` command as operators run it: a real child process on a real database, then a real
// server on that same database using what the CLI stored (clients, rotated keys).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { type Result, failure, lastJson, sesame } from '../helpers/cli.js';
import { openDb } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';

const COMMANDS = ['serve', 'migrate', 'worker', 'clients', 'keys', 'links', 'users'];
const API = 'https://api.example';

// Each command is a fresh Node process (~1-2 s); on a loaded machine a few in a row take a while.
describe('sesame CLI on sqlite', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let dir: string;
  let config: string;
  let t: TestSesame | undefined;
  let webSecret: string;
  let oldKeys: Array<{ kid: string; alg: string }>;
  let newKeys: Array<{ kid: string; alg: string }>;
  const run = (...args: string[]) => sesame(db.url, config, args);

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    dir = mkdtempSync(join(tmpdir(), 'sesame-cli-'));
    config = join(dir, 'empty.json');
    writeFileSync(config, '{}');
  });
  afterAll(async () => {
    await t?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a 3-day welcome link and revokes links', async () => {
    const created = lastJson(await run('links', 'create', '--type', 'welcome', '--email', 'Welcome@Example.com', '--json'));
    expect(created).toEqual({ url: expect.stringMatching(/^http:\/\/localhost:3000\/login\/link\?uuid=[\w-]+&token=[\w-]{43}$/), expiresAt: expect.any(String) });
    expect(Math.abs(Date.parse(created.expiresAt) - Date.now() - 3 * 86400_000)).toBeLessThan(60_000);
    expect(failure(await run('links', 'create', '--type', 'custom', '--email', 'a@example.com', '--ttl', '5s'))).toBe(
      'sesame: links create: ttl must be between 10 seconds and 2592000 seconds',
    );
    expect(failure(await run('links', 'create', '--type', 'custom', '--email', 'a@example.com', '--ttl', 'soon'))).toBe(
      'sesame: --ttl: expected a duration like 90s, 30m, 2h or 3d (got "soon")',
    );
    expect(lastJson(await run('links', 'revoke', '--email', 'welcome@example.com', '--json'))).toEqual({ revoked: 1 });
  });

  it('names a user by id or email, refusing bad names and unknown users with one line', { timeout: 300_000 }, async () => {
    await migrate(db.url);
    const store = openDb(db.url);
    try {
      await store.prisma.user.create({ data: { id: 'u-named', email: 'named@example.com', emailVerified: true } });
      expect(lastJson(await run('users', 'set-name', 'Named@Example.com', '  Ada Lovelace ', '--json'))).toEqual({ userId: 'u-named', name: 'Ada Lovelace' });
      expect(lastJson(await run('users', 'set-name', 'u-named', '<b>Grace</b>', '--json'))).toEqual({ userId: 'u-named', name: '<b>Grace</b>' });
      expect((await store.prisma.user.findUniqueOrThrow({ where: { id: 'u-named' } })).name).toBe('<b>Grace</b>');
      expect(failure(await run('users', 'set-name', 'u-named', 'a\tb'))).toBe(
        'sesame: users set-name: the name must be 1 to 100 characters, without control characters or line breaks',
      );
      expect(failure(await run('users', 'set-name', 'nobody@example.com', 'Ada'))).toBe('sesame: users set-name: no user "nobody@example.com"');
      expect(failure(await run('users', 'set-name', 'u-named'))).toBe('sesame: users set-name: expected <userId|email> <name> (quote a name with spaces)');
      expect((await store.prisma.user.findUniqueOrThrow({ where: { id: 'u-named' } })).name).toBe('<b>Grace</b>');
    } finally {
      await store.close();
    }
  });

  // One after another: eight Node processes booting at once on two busy cores took longer than any
  // sensible per-command limit. Each takes a few seconds under load, hence the test's own timeout.
  it('prints usage for --help at the top level and for every command', { timeout: 300_000 }, async () => {
    const results: Result[] = [];
    for (const args of [['--help'], ...COMMANDS.map((c) => [c, '--help'])]) results.push(await run(...args));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(i === 0 ? 'Usage: sesame <command>' : `Usage: sesame ${COMMANDS[i - 1]} `);
      expect(r.stdout).toContain(i === 0 ? 'Commands:' : '-h, --help');
    });
    for (const c of COMMANDS) expect(results[0]!.stdout).toContain(`  ${c} `);
  });

  it('refuses an unknown command and an unknown flag with one line', async () => {
    const [command, flag] = await Promise.all([run('frobnicate'), run('clients', 'list', '--frobnicate')]);
    expect(failure(command)).toContain('frobnicate');
    expect(failure(flag)).toContain('--frobnicate');
  });

  it('adds a client and prints its secret once, as JSON on the last line', async () => {
    const added = lastJson(await run('clients', 'add', '--id', 'web', '--redirect-uri', 'https://web.example/cb', '--first-party', '--json'));
    expect(added).toEqual({ client_id: 'web', client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    webSecret = added.client_secret;
  });

  it('refuses a duplicate id and a bad redirect URI with one line, storing nothing', async () => {
    const [again, bad] = await Promise.all([
      run('clients', 'add', '--id', 'web', '--redirect-uri', 'https://other.example/cb', '--json'),
      run('clients', 'add', '--id', 'bad', '--redirect-uri', 'not a url', '--json'),
    ]);
    expect(failure(again)).toContain('already exists');
    expect(failure(bad)).toContain('redirect_uris');
    expect(bad.stdout).toBe('');
    const { clients } = lastJson(await run('clients', 'list', '--json'));
    expect(clients).toEqual([
      {
        client_id: 'web',
        source: 'database',
        redirect_uris: ['https://web.example/cb'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        first_party: true,
        createdAt: expect.any(String),
      },
    ]);
  });

  it('lists one active RS256 key and one active ES256 key', async () => {
    const { keys } = lastJson(await run('keys', 'list', '--json'));
    expect(keys).toHaveLength(2);
    expect(keys.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(keys.every((k: { state: string; retiredAt: unknown }) => k.state === 'active' && k.retiredAt === null)).toBe(true);
    oldKeys = keys;
  });

  it('rotates: two new active keys, the two old ones retired but published until a future removeAt', async () => {
    const before = Date.now();
    const { keys } = lastJson(await run('keys', 'rotate', '--json'));
    expect(keys).toHaveLength(4);
    const active = keys.filter((k: { state: string }) => k.state === 'active');
    const retired = keys.filter((k: { state: string }) => k.state === 'retired');
    expect(active.map((k: { alg: string }) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(active.some((k: { kid: string }) => oldKeys.some((o) => o.kid === k.kid))).toBe(false);
    expect(retired.map((k: { kid: string }) => k.kid).sort()).toEqual(oldKeys.map((k) => k.kid).sort());
    for (const k of retired) expect(Date.parse(k.removeAt)).toBeGreaterThan(before + 60_000);
    newKeys = active;
    const store = openDb(db.url);
    try {
      const audits = await store.prisma.auditEvent.findMany({ where: { type: 'keys.rotated' } });
      expect(audits.map((a) => [a.reason, a.identifier?.split(' ').sort()])).toEqual([['via cli', active.map((k: { kid: string }) => k.kid).sort()]]);
    } finally {
      await store.close();
    }
  });

  it('a server started afterwards serves the CLI clients, publishes all four keys and signs with the new ones', async () => {
    const svc = lastJson(await run('clients', 'add', '--id', 'svc', '--json'));
    t = await startTestSesame('sqlite', { databaseUrl: db.url, apis: [{ identifier: API, scopes: ['read'] }] });
    const newRsa = newKeys.find((k) => k.alg === 'RS256')!.kid;

    const token = (id: string, secret: string, extra: Record<string, string> = {}) =>
      fetch(`${t!.url}/oauth/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...extra }),
      });
    const plain = await token('svc', svc.client_secret);
    expect(plain.status).toBe(200);
    expect(await plain.json()).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
    const jwt = await token('svc', svc.client_secret, { resource: API });
    expect(jwt.status).toBe(200);
    expect(decodeProtectedHeader(((await jwt.json()) as { access_token: string }).access_token)).toMatchObject({ alg: 'RS256', kid: newRsa });
    expect((await token('svc', 'wrong-secret')).status).toBe(401);
    // web authenticates with its secret; it is just not allowed this grant.
    const refused = await token('web', webSecret);
    expect([refused.status, await refused.json()]).toEqual([
      403,
      { error: 'unauthorized_client', error_description: "Grant type 'client_credentials' not allowed for the client." },
    ]);

    const jwks = (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string; d?: string }> };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([...oldKeys, ...newKeys].map((k) => k.kid).sort());
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);

    // The CLI's first-party web client through the hosted pages: its id_token carries the new kid.
    const rp = await oidc.discovery(new URL(t.issuer), 'web', webSecret, oidc.ClientSecretBasic(webSecret), { execute: [oidc.allowInsecureRequests] });
    const started = await startLogin(t, rp, { redirect_uri: 'https://web.example/cb' });
    const { result } = await signInWithEmail(t, started, 'cli@example.com');
    expect(result.location).toMatch(/^https:\/\/web\.example\/cb\?code=/);
    const tokens = await exchangeCode(rp, started, result.location);
    expect(decodeProtectedHeader(tokens.id_token!)).toMatchObject({ alg: 'RS256', kid: newRsa });
  });

  it('removes a client, which then no longer lists', async () => {
    expect(lastJson(await run('clients', 'remove', 'web', '--json'))).toEqual({ removed: 'web' });
    const { clients } = lastJson(await run('clients', 'list', '--json'));
    expect(clients.map((c: { client_id: string }) => c.client_id)).toEqual(['svc']);
    expect(failure(await run('clients', 'remove', 'web'))).toContain('web');
  });

  it('migrate refuses a config file with an unknown key, naming its path', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ delivery: { maxAttemps: 3 } }));
    const line = failure(await sesame(db.url, bad, ['migrate']));
    expect(line).toContain('delivery.maxAttemps');
  });
});

describe('sesame CLI on postgresql', { timeout: 120_000 }, () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase('postgresql');
    dir = mkdtempSync(join(tmpdir(), 'sesame-cli-'));
    writeFileSync(join(dir, 'empty.json'), '{}');
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds a client and lists it', async () => {
    const run = (...args: string[]) => sesame(db.url, join(dir, 'empty.json'), args);
    const added = lastJson(await run('clients', 'add', '--id', 'web', '--redirect-uri', 'https://web.example/cb', '--first-party', '--json'));
    expect(added).toEqual({ client_id: 'web', client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const { clients } = lastJson(await run('clients', 'list', '--json'));
    expect(clients).toEqual([
      {
        client_id: 'web',
        source: 'database',
        redirect_uris: ['https://web.example/cb'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        first_party: true,
        createdAt: expect.any(String),
      },
    ]);
  });
});
