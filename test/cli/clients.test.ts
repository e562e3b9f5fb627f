// `sesame clients` beyond add: --web-origin and --metadata, update (keeps the secret), rotate-secret,
// list with config clients. Real child processes on a real database, a real server on that database
// that sees each CLI change on its next request, and Chromium proving a --public SPA's CORS at
// /oauth/token from its web origin (a preflight, as the Auth0-Client header makes it non-simple).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { signInWithEmail, startLogin } from '../helpers/login.js';
import { useBrowser } from '../helpers/browser.js';
import { failure, lastJson, sesame } from '../helpers/cli.js';

const CALLBACK = 'http://127.0.0.1:9/cb';
const CONFIG = { clients: [{ client_id: 'cfg', client_secret: 'cfg-secret-cfg-secret-cfg-secret', redirect_uris: [CALLBACK], grant_types: ['authorization_code'] }] };

/** A blank page on its own port: a browser origin for the SPA. */
async function originServer(): Promise<{ origin: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>spa</title>'));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

// Each command is a fresh Node process; on a loaded machine one takes many seconds, hence the timeouts.
// One process at a time: nine Node processes at once starve a loaded 2-core machine.
async function inTurn<T>(steps: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = [];
  for (const step of steps) results.push(await step());
  return results;
}

describe('sesame clients', { timeout: 600_000 }, () => {
  let db: TestDatabase;
  let dir: string;
  let config: string;
  let t: TestSesame | undefined;
  const chromium = useBrowser();
  const origins: Array<{ origin: string; server: Server }> = [];
  let m2mSecret: string;
  const run = (...args: string[]) => sesame(db.url, config, args);

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    dir = mkdtempSync(join(tmpdir(), 'sesame-clients-'));
    config = join(dir, 'sesame.json');
    writeFileSync(config, JSON.stringify(CONFIG));
    origins.push(await originServer(), await originServer());
  });
  afterAll(async () => {
    await t?.stop();
    await db?.drop();
    for (const { server } of origins) server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('describes every action and option in --help', async () => {
    const help = await run('clients', '--help');
    expect([help.code, help.stderr]).toEqual([0, '']);
    for (const text of [
      'add --id <id>',
      'update <id>',
      'rotate-secret <id>',
      'list ',
      'remove <id>',
      '--web-origin <value> (repeatable)',
      '--metadata <value>',
      'list flags add to the lists',
    ]) {
      expect(help.stdout).toContain(text);
    }
  });

  it('adds a --public SPA with --web-origin and --metadata, and a confidential client from --metadata alone', async () => {
    const [origin] = origins;
    const spa = lastJson(
      await run(
        'clients',
        'add',
        '--id',
        'spa',
        '--public',
        '--first-party',
        '--redirect-uri',
        CALLBACK,
        '--web-origin',
        origin!.origin,
        '--metadata',
        '{"id_token_signed_response_alg":"ES256"}',
        '--json',
      ),
    );
    expect(spa).toEqual({ client_id: 'spa', client_secret: null });
    const m2m = lastJson(await run('clients', 'add', '--id', 'm2m', '--metadata', '{"token_endpoint_auth_method":"client_secret_post","client_name":"M2M"}', '--json'));
    expect(m2m).toEqual({ client_id: 'm2m', client_secret: expect.stringMatching(/^[\w-]{43}$/) });
    m2mSecret = m2m.client_secret;
  });

  it('refuses bad JSON, bad metadata, a flag clashing with --metadata, a config id and a management client users sign in to, with one line', async () => {
    const results = await inTurn([
      () => run('clients', 'add', '--id', 'x', '--metadata', '{"client_name":'),
      () => run('clients', 'add', '--id', 'x', '--metadata', '["a"]'),
      () => run('clients', 'add', '--id', 'x', '--redirect-uri', CALLBACK, '--metadata', '{"id_token_signed_response_alg":"HS999"}'),
      () => run('clients', 'add', '--id', 'x', '--web-origin', 'https://a.example', '--metadata', '{"web_origins":["https://b.example"]}'),
      () => run('clients', 'add', '--id', 'x', '--web-origin', 'not an origin'),
      () => run('clients', 'add', '--id', 'cfg', '--redirect-uri', CALLBACK),
      () => run('clients', 'add', '--id', 'console', '--redirect-uri', CALLBACK, '--metadata', '{"management_api":true}'),
      () => run('clients', 'update', 'm2m', '--metadata', '{"client_id":"other"}'),
      () => run('clients', 'update', 'm2m'),
    ]);
    expect(results.map(failure)).toEqual([
      expect.stringMatching(/^sesame: --metadata: not valid JSON \(.+\)$/),
      'sesame: --metadata: expected a JSON object of client metadata',
      "sesame: clients add: invalid client: id_token_signed_response_alg must be 'ES256' or 'RS256'",
      'sesame: --web-origin and --metadata both set web_origins; use one',
      'sesame: clients add: invalid client: web_origins must be a list of origins like https://app.example.com',
      'sesame: clients add: a client cfg already exists in the configuration file',
      'sesame: clients add: invalid client: a management_api client may only use the client_credentials grant, with grant_types ["client_credentials"] and response_types [] ' +
        "(got authorization_code, refresh_token): a user's sign-in must never reach the management API",
      'sesame: clients update: client_id cannot be changed; register a new client instead',
      'sesame: clients update: nothing to change; give options (see --help)',
    ]);
    expect(results.every((r) => r.stdout === '')).toBe(true);
  });

  it('refuses to update, rotate or remove a config client, saying to edit the config file', async () => {
    const results = await inTurn([() => run('clients', 'update', 'cfg', '--name', 'x'), () => run('clients', 'rotate-secret', 'cfg'), () => run('clients', 'remove', 'cfg')]);
    expect(results.map(failure)).toEqual(
      ['update', 'rotate-secret', 'remove'].map((action) => `sesame: clients ${action}: client cfg comes from the configuration file; edit the config file to change it`),
    );
  });

  it('lists config and stored clients with their source, without secrets', async () => {
    const text = await run('clients', 'list');
    expect([text.code, text.stderr, text.stdout]).toEqual([0, '', `cfg\tconfig\t${CALLBACK}\nspa\tdatabase\t${CALLBACK}\nm2m\tdatabase\t\n`]);
    const { clients } = lastJson(await run('clients', 'list', '--json'));
    expect(clients).toEqual([
      {
        client_id: 'cfg',
        source: 'config',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code'],
        first_party: false,
        web_origins: [],
        management_api: false,
        userfront: false,
        trust_forwarded_for: false,
        createdAt: null,
      },
      {
        client_id: 'spa',
        source: 'database',
        id_token_signed_response_alg: 'ES256',
        redirect_uris: [CALLBACK],
        web_origins: [origins[0]!.origin],
        token_endpoint_auth_method: 'none',
        first_party: true,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        createdAt: expect.any(String),
      },
      {
        client_id: 'm2m',
        source: 'database',
        token_endpoint_auth_method: 'client_secret_post',
        client_name: 'M2M',
        redirect_uris: [],
        grant_types: ['client_credentials'],
        response_types: [],
        createdAt: expect.any(String),
      },
    ]);
  });

  it('a running server applies CLI changes on the next request: CORS from a new web origin, a kept secret, a rotated one', async () => {
    t = await startTestSesame('sqlite', { ...CONFIG, databaseUrl: db.url });
    const [a, b] = origins;
    const rp = await oidc.discovery(new URL(t.issuer), 'spa', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const code = async (email: string) => {
      const started = await startLogin(t!, rp);
      const { result } = await signInWithEmail(t!, started, email);
      const params = new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: 'spa',
        code: new URL(result.location!).searchParams.get('code')!,
        code_verifier: started.verifier,
        redirect_uri: CALLBACK,
      });
      return params.toString();
    };
    // The token request as an SPA makes it (auth0-spa-js sends Auth0-Client: a preflighted request).
    const fromOrigin = async (origin: string, body: string) => {
      const page = await (await chromium.newContext()).newPage();
      await page.goto(origin);
      const answer = await page.evaluate(
        async ({ url, form }) => {
          try {
            const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'auth0-client': 'eyJuYW1lIjoic3BhIn0' }, body: form });
            return { status: res.status, body: (await res.json()) as Record<string, unknown> };
          } catch (err) {
            return { error: String(err) };
          }
        },
        { url: `${t!.url}/oauth/token`, form: body },
      );
      await page.close();
      return answer;
    };

    const preflight = await fetch(`${t.url}/oauth/token`, {
      method: 'OPTIONS',
      headers: { origin: a!.origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'auth0-client,content-type' },
    });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin'), preflight.headers.get('access-control-allow-headers')]).toEqual([
      204,
      a!.origin,
      'auth0-client,content-type',
    ]);
    const first = await code('spa-a@example.com');
    // From an origin the client did not register, the browser gets no readable answer (and the
    // server refused the request, so the code is still unused).
    expect(await fromOrigin(b!.origin, first)).toEqual({ error: 'TypeError: Failed to fetch' });
    const tokens = await fromOrigin(a!.origin, first);
    expect(tokens).toEqual({ status: 200, body: expect.objectContaining({ token_type: 'Bearer', access_token: expect.any(String), id_token: expect.any(String) }) });
    expect(decodeProtectedHeader(tokens.body!.id_token as string).alg).toBe('ES256');

    // Another origin added by the CLI (list flags add), with the server running.
    expect(lastJson(await run('clients', 'update', 'spa', '--web-origin', b!.origin, '--json'))).toEqual({ client_id: 'spa', client_secret: null });
    expect(await fromOrigin(b!.origin, await code('spa-b@example.com'))).toEqual({ status: 200, body: expect.objectContaining({ token_type: 'Bearer' }) });
    const { clients } = lastJson(await run('clients', 'list', '--json'));
    expect(clients.find((c: { client_id: string }) => c.client_id === 'spa').web_origins).toEqual([a!.origin, b!.origin]);

    const token = (secret: string) =>
      fetch(`${t!.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'm2m', client_secret: secret }),
      });
    expect(lastJson(await run('clients', 'update', 'm2m', '--name', 'Batch', '--json'))).toEqual({ client_id: 'm2m', client_secret: null });
    expect((await token(m2mSecret)).status).toBe(200);
    const rotated = lastJson(await run('clients', 'rotate-secret', 'm2m', '--json'));
    expect(rotated).toEqual({ client_id: 'm2m', client_secret: expect.stringMatching(/^[\w-]{43}$/) });
    const old = await token(m2mSecret);
    expect([old.status, ((await old.json()) as { error: string }).error]).toEqual([401, 'invalid_client']);
    expect((await token(rotated.client_secret)).status).toBe(200);
    expect(failure(await run('clients', 'rotate-secret', 'spa'))).toBe('sesame: clients rotate-secret: client spa is public and has no secret');
  });
});
