// `sesame serve --workers 2` (node:cluster) on each database: both workers take requests on the one
// port, a sign-in works through them, a worker killed with SIGKILL is replaced while the other keeps
// answering, and SIGTERM to the primary stops every process with exit code 0.
import { request } from 'node:http';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { childPids, exited, startServe, waitForLog, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';

const OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';
const APP = { client_id: 'app', client_secret: 'app-secret-app-secret-app-secret' };

/** GET on a fresh connection (no keep-alive agent), so the cluster hands each request to a worker anew. */
function freshGet(url: string, path: string, requestId: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { agent: false, headers: { 'x-request-id': requestId, connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe.each(ENGINES)('sesame serve --workers 2 on %s', { timeout: 60_000 }, (engine) => {
  let database: TestDatabase;
  let sink: MailSink;
  let proc: ServeProcess;
  let batch = 0;
  /** Worker id of the one not killed (set by the SIGKILL test). */
  let survivorId: number | undefined;

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    sink = await startMailSink();
    proc = await startServe({
      databaseUrl: database.url,
      args: ['--workers', '2'],
      config: {
        smtpUrl: sink.url,
        emailFrom: 'Sesame Test <login@sesame.test>',
        clients: [{ ...APP, redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code', OTP], first_party: true }],
      },
    });
  });

  afterAll(async () => {
    await proc?.stop();
    await sink?.close();
    await database?.drop();
  });

  const listening = () => proc.logs().filter((l) => l.msg === 'sesame listening');

  /** `count` GETs of /healthz on fresh connections; the worker that served each, from the request logs. */
  async function servedBy(count: number): Promise<number[]> {
    const ids = Array.from({ length: count }, (_, i) => `scale-${engine}-${batch}-${i}`);
    batch++;
    const answers = [];
    for (const id of ids) answers.push(await freshGet(proc.url, '/healthz', id));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    const lines = await waitFor(
      () => {
        const byId = new Map(
          proc
            .logs()
            .filter((l) => l.msg === 'request' && ids.includes(l.requestId as string))
            .map((l) => [l.requestId, l]),
        );
        return byId.size === ids.length && ids.map((id) => byId.get(id)!);
      },
      { what: `request logs of ${ids.length} requests` },
    );
    return lines.map((l) => l.worker as number);
  }

  it('hands requests on one port to both workers', async () => {
    await waitFor(() => listening().length >= 2, { what: 'two workers listening' });
    expect(
      listening()
        .map((l) => l.worker)
        .sort(),
    ).toEqual([1, 2]);
    const workers = await servedBy(40);
    expect([...new Set(workers)].sort()).toEqual([1, 2]);
  });

  it('signs in with an emailed code through the workers', async () => {
    const email = `workers-${engine}@example.com`;
    const start = await fetch(`${proc.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...APP, connection: 'email', email, send: 'code' }),
    });
    expect([start.status, await start.json()]).toEqual([200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }]);
    const otp = codeFrom(await sink.next(email));
    const token = await fetch(`${proc.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: OTP, ...APP, username: email, otp, realm: 'email', scope: 'openid email' }),
    });
    const body = (await token.json()) as Record<string, string>;
    expect([token.status, body]).toEqual([200, { access_token: expect.any(String), expires_in: 3600, id_token: expect.any(String), scope: 'openid email', token_type: 'Bearer' }]);
    expect(decodeJwt(body.id_token!)).toMatchObject({ iss: proc.url, aud: APP.client_id, email, email_verified: true });
  });

  it('replaces a worker killed with SIGKILL and keeps answering', async () => {
    const before = childPids(proc.child.pid!);
    expect(before).toHaveLength(2);
    const victim = before[0]!;
    process.kill(victim, 'SIGKILL');
    const died = await waitForLog(proc, (l) => l.msg === 'worker died; starting another' && l.pid === victim);
    expect(died).toMatchObject({ level: 50, role: 'primary', pid: victim, signal: 'SIGKILL' });

    // The survivor answers meanwhile (alone, unless the new worker is already up).
    const meanwhile = await servedBy(10);
    const old = [...new Set(meanwhile.filter((w) => w !== 3))];
    expect(old).toHaveLength(1);
    survivorId = old[0]!;

    // A third worker takes the dead one's place and gets requests too.
    await waitFor(() => listening().some((l) => l.worker === 3), { what: 'a third worker listening' });
    const after = await waitFor(
      () => {
        const pids = childPids(proc.child.pid!);
        return pids.length === 2 && pids;
      },
      { what: 'two workers again' },
    );
    expect(after).not.toContain(victim);
    expect(exited(victim)).toBe(true);
    const survivor = before[1]!;
    expect(after).toContain(survivor);
    const workers = await servedBy(40);
    expect([...new Set(workers)].sort()).toEqual([survivorId, 3].sort());
  });

  it('stops the primary and every worker on SIGTERM, with exit code 0', async () => {
    const workers = childPids(proc.child.pid!);
    expect(workers).toHaveLength(2);
    expect(await proc.stop()).toBe(0);
    expect(workers.filter((pid) => !exited(pid))).toEqual([]);
    // Both workers stopped gracefully (the killed one never got to say so).
    const stopped = proc
      .logs()
      .filter((l) => l.msg === 'sesame stopped')
      .map((l) => l.worker);
    expect(stopped.sort()).toEqual(survivorId === undefined ? [1, 2] : [survivorId, 3].sort());
    expect(proc.logs().some((l) => l.msg === 'all workers stopped' && l.role === 'primary')).toBe(true);
    await expect(freshGet(proc.url, '/healthz', 'after-stop')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    // Nothing went wrong on the way but the one death this file caused.
    const errors = proc.logs().filter((l) => (l.level as number) >= 50 && l.msg !== 'worker died; starting another');
    expect(errors).toEqual([]);
  });
});
