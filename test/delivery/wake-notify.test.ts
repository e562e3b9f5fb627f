// PostgreSQL's NOTIFY wakes the delivery workers of other processes: a code asked for from one
// instance (whose own worker is stopped) is sent at once by a `sesame worker` process polling only
// every ten minutes, and still after that process's LISTEN connection was cut off with the database
// (a TCP proxy between them is cut, then restored): it reconnects by itself.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxChannelName } from '../../src/storage/outbox-channel.js';
import { POSTGRES_URL } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import { faultFixture, startCode } from '../faults/fixture.js';

/** Far longer than any wait below: what arrives came through a wake. */
const LONG_POLL = 600_000;
/** Generous for a loaded machine, yet a thirtieth of the poll interval. */
const PROMPTLY = 20_000;

describe('outbox NOTIFY across processes on PostgreSQL', { timeout: 180_000 }, () => {
  let t: TestSesame;
  let proxy: TcpProxy;
  let worker: WorkerProcess;
  let admin: pg.Client;
  /** Backend pids of the sessions listening on this schema's channel (the instance's and the worker's). */
  const listeners = async () => {
    const channel = outboxChannelName(t.database.url);
    const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE query = $1 ORDER BY pid', [`LISTEN "${channel}"`]);
    return rows.map((r) => r.pid);
  };
  /** Asks the instance for a code and resolves with the worker's log line that delivered it. */
  const deliveredByWorker = async (email: string) => {
    expect(await startCode(t.url, email)).toMatchObject({ status: 200, body: { email } });
    await t.mail.next(email, PROMPTLY);
    const row = await t.sesame.services.db.prisma.outboxMessage.findFirstOrThrow({ where: { recipient: email } });
    return waitFor(() => worker.logs().find((l) => l.msg === 'message delivered' && l.messageId === row.id), { what: `the worker's delivery of ${email}` });
  };

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    t = await startTestSesame('postgresql', { ...faultFixture, delivery: { pollInterval: LONG_POLL } });
    // This instance only queues: what is sent, the worker process sent.
    await t.sesame.worker.stop(0);
    await waitFor(async () => (await listeners()).length === 1, { what: "the instance's LISTEN" });
    const target = new URL(t.database.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    worker = await startWorkerProcess(proxy.rewrite(t.database.url), { delivery: { pollInterval: LONG_POLL } }, { SMTP_URL: t.mail.url });
    await waitFor(async () => (await listeners()).length === 2, { what: "the worker's LISTEN" });
  });
  afterAll(async () => {
    await proxy?.restore();
    await worker?.stop();
    await proxy?.close();
    await t?.stop();
    await admin?.end();
  });

  it('wakes a `sesame worker` process at once when another instance queues a code', async () => {
    // The first may be taken by the pass the worker makes when its LISTEN connects; the second
    // can only come from a NOTIFY (its poll is ten minutes away).
    await deliveredByWorker('first@example.com');
    expect(await deliveredByWorker('notified@example.com')).toMatchObject({ level: 30, channel: 'email', attempt: 1 });
    expect(t.mail.to('notified@example.com')).toHaveLength(1);
  });

  it('listens again after its connection to PostgreSQL was cut off, and is woken as before', async () => {
    const before = await listeners();
    await proxy.cut();
    await waitFor(() => worker.logs().some((l) => l.msg === 'outbox LISTEN connection lost; reconnecting'), {
      what: 'the worker to notice the cut',
      detail: () => worker.output().slice(-2000),
    });
    // Meanwhile the instance still queues (its database is not cut off); the NOTIFY is lost.
    expect(await startCode(t.url, 'during-cut@example.com')).toMatchObject({ status: 200 });
    await proxy.restore();
    await waitFor(async () => (await listeners()).some((pid) => !before.includes(pid)), { timeout: 60_000, what: "the worker's new LISTEN" });
    // Reconnected, it looks at the outbox at once: what was queued while it was away goes out.
    await t.mail.next('during-cut@example.com', PROMPTLY);
    expect(await deliveredByWorker('after-cut@example.com')).toMatchObject({ level: 30, channel: 'email', attempt: 1 });
    expect(worker.logs().filter((l) => (l.level as number) >= 60)).toEqual([]);
  });
});
