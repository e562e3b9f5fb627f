// A process killed with SIGKILL while its outbox still holds undelivered codes: the codes were
// stored before the requests answered, so another process on the same database delivers each one
// exactly once, and the codes still sign in.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, ENGINES, type TestDatabase } from '../helpers/databases.js';
import { freePort } from '../helpers/net.js';
import { startServe, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { faultFixture, logged, otpGrant, startCode } from './fixture.js';

const RECIPIENTS = 10;
const POLL = 200;

describe.each(ENGINES)('SIGKILL with a full outbox on %s', (engine) => {
  let database: TestDatabase | undefined;
  let a: ServeProcess | undefined;
  let b: ServeProcess | undefined;
  let sink: MailSink | undefined;
  afterAll(async () => {
    await a?.kill();
    await b?.stop();
    await sink?.close();
    await database?.drop();
  });

  it('delivers every queued code exactly once from another process, and the codes sign in', { timeout: 180_000 }, async () => {
    database = await createTestDatabase(engine);
    const config = { ...faultFixture, delivery: { pollInterval: POLL, retryDelay: 1 } };
    // Nothing listens on A's SMTP port: every send fails and is retried.
    const deadSmtp = await freePort();
    a = await startServe({ databaseUrl: database.url, config, env: { SMTP_URL: `smtp://127.0.0.1:${deadSmtp}` } });

    const emails = Array.from({ length: RECIPIENTS }, (_, i) => `kill${i}-${engine}@example.com`);
    for (const email of emails) {
      const res = await startCode(a.url, email);
      expect(res).toMatchObject({ status: 200, body: { email, email_verified: false } });
    }
    // A has tried (and failed) to send before it dies, so the messages are in their retry cycle.
    await waitFor(() => logged(a!.logs(), 'message delivery failed, will retry').length >= RECIPIENTS, { timeout: 60_000, what: `A's first failed sends` });
    expect(logged(a.logs(), 'message delivered')).toEqual([]);
    await a.kill();
    expect(a.child.signalCode).toBe('SIGKILL');

    sink = await startMailSink(await freePort());
    b = await startServe({ databaseUrl: database.url, config, env: { SMTP_URL: sink.url } });

    // Backoff after A's few attempts is a few seconds; a message A held a lease on when it died
    // waits for the 60 s lease to run out.
    const mails = await Promise.all(emails.map((email) => sink!.next(email, 120_000)));

    // The codes A stored are good on B.
    for (const [i, email] of emails.entries()) {
      const res = await otpGrant(b.url, email, codeFrom(mails[i]!));
      expect([email, res.status, res.body]).toEqual([email, 200, expect.objectContaining({ access_token: expect.any(String), id_token: expect.any(String) })]);
    }

    // Each exactly once. A duplicate would come from a later delivery pass; rather than watch for a
    // while, stop B (it finishes the pass it is in first, and the sink has a message before its
    // sender hears back). A is dead, so after that nothing can send and the counts are final.
    expect(await b.stop()).toBe(0);
    for (const email of emails) expect([email, sink.to(email).length]).toEqual([email, 1]);
    expect(sink.messages).toHaveLength(RECIPIENTS);
    expect(logged(b.logs(), 'message given up')).toEqual([]);
  });
});
