// While Sesame starts (migrations, keys) its port is already open: every request must be answered
// at once (503 temporarily_unavailable with Retry-After; /healthz 200 "starting") rather than hang
// until the start finishes. PostgreSQL is reached through a proxy that holds its connections, so
// the start waits on the database for as long as the test wants.
import { afterAll, describe, expect, it } from 'vitest';
import { startSesame, type RunningSesame } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { freePort } from '../helpers/net.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const STARTING = { error: 'temporarily_unavailable', error_description: 'Sesame is starting; try again in a few seconds.' };

interface Answer {
  status: number;
  retryAfter: string | null;
  body: unknown;
}

// Generous: a machine under load is slow, but a request that hangs until the start ends never answers.
async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

describe('requests during startup', () => {
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let running: RunningSesame | undefined;
  afterAll(async () => {
    proxy?.release();
    await running?.stop();
    await proxy?.close();
    await database?.drop();
  });

  it('answers 503 at once while the database is not ready, then serves', { timeout: 120_000 }, async () => {
    database = await createTestDatabase('postgresql');
    const target = new URL(database.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    proxy.hold();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const starting = startSesame({
      env: { NODE_ENV: 'test' },
      overrides: { port, host: '127.0.0.1', issuer: url, logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', databaseUrl: proxy.rewrite(database.url) },
    });
    starting.then(
      (r) => (running = r),
      () => {},
    );
    // The start is now stuck on the database: it has connected and waits for an answer.
    await waitFor(() => proxy!.held() > 0, { what: 'the start to reach the database' });

    expect(await request(`${url}/readyz`)).toEqual({ status: 503, retryAfter: '2', body: STARTING });
    expect(await request(`${url}/.well-known/openid-configuration`)).toEqual({ status: 503, retryAfter: '2', body: STARTING });
    expect(await request(`${url}/oauth/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }) })).toEqual({
      status: 503,
      retryAfter: '2',
      body: STARTING,
    });
    expect(await request(`${url}/healthz`)).toEqual({ status: 200, retryAfter: null, body: { status: 'starting' } });
    expect(running).toBeUndefined();

    proxy.release();
    await starting;
    expect(await request(`${url}/readyz`)).toEqual({ status: 200, retryAfter: null, body: { status: 'ok', database: 'ok' } });
    expect(await request(`${url}/healthz`)).toEqual({ status: 200, retryAfter: null, body: { status: 'ok' } });
    expect((await request(`${url}/.well-known/openid-configuration`)).status).toBe(200);
  });
});
