// The SMTP server is down for a minute: codes wait in the outbox and are retried with backoff
// (retryDelay 1 s: attempts at about 0, 1, 3, 7, 15, 31 and 63 s), then each goes out exactly once
// when the server comes up on the configured port. The whole minute is intended.
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { freePort } from '../helpers/net.js';
import { startServe, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';
import { faultFixture, logged, otpGrant, sleep, startCode } from './fixture.js';

const RECIPIENTS = 5;
const DOWN_MS = 60_000;
const POLL = 200;

describe('SMTP server down for a minute', () => {
  let database: TestDatabase | undefined;
  let s: ServeProcess | undefined;
  let sink: MailSink | undefined;
  afterAll(async () => {
    await s?.stop();
    await sink?.close();
    await database?.drop();
  });

  it('retries every queued code and delivers each exactly once when the server comes up', { timeout: 120_000 }, async () => {
    database = await createTestDatabase('sqlite');
    const smtpPort = await freePort();
    s = await startServe({
      databaseUrl: database.url,
      config: { ...faultFixture, delivery: { pollInterval: POLL, retryDelay: 1, maxAttempts: 10 } },
      env: { SMTP_URL: `smtp://127.0.0.1:${smtpPort}` },
    });

    const emails = Array.from({ length: RECIPIENTS }, (_, i) => `smtp-down${i}@example.com`);
    const firstSend = Date.now();
    for (const email of emails) expect(await startCode(s.url, email)).toMatchObject({ status: 200, body: { email } });

    // The outage itself: the minute is the scenario (retries across a long outage), not a wait. It
    // stays real time: the server is another process (dist/) and the SMTP server is really down, so
    // an injected clock cannot stand in for the minute the retries back off across.
    await sleep(DOWN_MS - (Date.now() - firstSend));
    const retries = logged(s.logs(), 'message delivery failed, will retry');
    // Five or six attempts each by now (0, 1, 3, 7, 15, 31 s), every one failed and rescheduled.
    expect(new Set(retries.map((l) => l.messageId)).size).toBe(RECIPIENTS);
    expect(retries.length).toBeGreaterThanOrEqual(RECIPIENTS * 5);
    expect(logged(s.logs(), 'message delivered')).toEqual([]);

    sink = await startMailSink(smtpPort);
    // The next attempt of each is at about 63 s after its first.
    const mails = await Promise.all(emails.map((email) => sink!.next(email, 40_000)));

    // The late codes still sign in (10 minute lifetime).
    const res = await otpGrant(s.url, emails[0]!, codeFrom(mails[0]!));
    expect(res.status).toBe(200);

    // Each exactly once. A duplicate would come from a later delivery pass; rather than watch for a
    // while, stop the server (it finishes the pass it is in first, and the sink has a message before
    // its sender hears back): after that nothing can send, so the counts are final.
    expect(await s.stop()).toBe(0);
    for (const email of emails) expect([email, sink.to(email).length]).toEqual([email, 1]);
    expect(sink.messages).toHaveLength(RECIPIENTS);
    expect(logged(s.logs(), 'message given up')).toEqual([]);
    expect(logged(s.logs(), 'message delivered')).toHaveLength(RECIPIENTS);
  });
});
