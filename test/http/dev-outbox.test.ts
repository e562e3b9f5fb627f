// The dev outbox shows every code, so an attacker who can read it signs in as anyone: it exists
// only when nothing is really delivered, answers only requesters on this machine (by TCP address,
// whatever the headers say), and rows of really delivered messages keep no code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { postJson, requestFrom } from '../helpers/from-address.js';
import { maskedPeer } from '../helpers/masked-peer.js';
import { capturingLogger } from '../helpers/logs.js';
import { apiFixture } from '../api/fixture.js';
import { waitFor } from '../helpers/wait.js';

const NATIVE = apiFixture.clients[0]!;
// What any path nobody serves answers.
const NOT_FOUND = [404, 'Not Found'];

async function sendCode(t: TestSesame, email: string) {
  const res = await postJson(`${t.url}/passwordless/start`, { client_id: NATIVE.client_id, client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' });
  expect([res.status, JSON.parse(res.text)]).toEqual([200, { _id: expect.stringMatching(/^[0-9a-f]{24}$/), email, email_verified: false }]);
}

const whole = (answer: { status: number; text: string }) => [answer.status, answer.text];

describe.each(ENGINES)('dev outbox on %s', (engine) => {
  describe('with SMTP configured', () => {
    let t: TestSesame;
    beforeAll(async () => {
      t = await startTestSesame(engine, apiFixture);
    });
    afterAll(() => t?.stop());

    it('is not served, and a delivered message keeps no code in its row', async () => {
      await sendCode(t, 'delivered@example.com');
      const mail = await t.mail.next('delivered@example.com');
      const code = /^(\d{6}) /.exec(mail.subject)![1]!;
      const db = t.sesame.services.db.prisma;
      const row = await waitFor(() => db.outboxMessage.findFirst({ where: { recipient: 'delivered@example.com', status: 'sent' } }), { what: 'the sent row' });
      expect({ subject: row.subject, text: row.text, html: row.html }).toEqual({ subject: null, text: '', html: null });
      expect(JSON.stringify(await db.outboxMessage.findMany())).not.toContain(code);
      expect(whole(await requestFrom(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } }))).toEqual(NOT_FOUND);
    });
  });

  describe('without SMTP (nothing delivered)', () => {
    let t: TestSesame;
    const { logger, lines } = capturingLogger('info');
    beforeAll(async () => {
      // trustProxy on: a forwarded 127.0.0.1 must still not open the outbox.
      t = await startTestSesame(engine, { ...apiFixture, smtpUrl: undefined, trustProxy: true }, { logger });
    });
    afterAll(() => t?.stop());

    it('says so at startup', () => {
      const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; path?: string }).filter((l) => l.path === '/dev/outbox');
      expect(warnings).toEqual([
        expect.objectContaining({
          level: 40,
          msg: 'dev outbox on: no message is delivered; each is kept with its code and shown at /dev/outbox to requesters on this machine. Set smtpUrl (or devOutbox: false) for real use',
        }),
      ]);
    });

    it("shows captured codes to a requester on this machine, as JSON in the README's shape", async () => {
      await sendCode(t, 'captured@example.com');
      const answer = await waitFor(
        async () => {
          const answer = await requestFrom(`${t.url}/dev/outbox`, { headers: { accept: 'application/json' } });
          expect([answer.status, answer.headers['content-type']]).toEqual([200, 'application/json; charset=utf-8']);
          const { messages } = JSON.parse(answer.text) as { messages: Array<{ recipient: string; status: string }> };
          return messages.some((m) => m.recipient === 'captured@example.com' && m.status === 'sent') ? answer : undefined;
        },
        { what: 'the captured message' },
      );
      const { messages } = JSON.parse(answer.text) as { messages: Array<{ subject: string }> };
      const code = /^(\d{6}) /.exec(messages[0]!.subject)?.[1] ?? 'no code in the subject';
      const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      // Only the documented fields: the worker's leases and retries are not part of the answer.
      expect(messages).toEqual([
        {
          id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          channel: 'email',
          recipient: 'captured@example.com',
          subject: `${code} is your Sesame sign-in code`,
          text: expect.stringContaining(code),
          html: expect.stringContaining(code),
          status: 'sent',
          createdAt: iso,
          sentAt: iso,
        },
      ]);
    });

    it('does not exist for a peer elsewhere, even one claiming 127.0.0.1 through X-Forwarded-For', async () => {
      const elsewhere = await maskedPeer(t.sesame.server, '203.0.113.9');
      try {
        for (const headers of [{} as Record<string, string>, { 'x-forwarded-for': '127.0.0.1' }, { 'x-forwarded-for': '127.0.0.1, 127.0.0.1' }]) {
          const answer = await requestFrom(`${elsewhere.url}/dev/outbox`, { headers: { accept: 'application/json', ...headers } });
          expect(whole(answer)).toEqual(NOT_FOUND);
          expect(answer.text).not.toContain('captured@example.com');
        }
        expect(whole(await requestFrom(`${elsewhere.url}/dev/outbox`))).toEqual(NOT_FOUND);
        expect(whole(await requestFrom(`${elsewhere.url}/dev/nothing-here`))).toEqual(NOT_FOUND);
      } finally {
        await elsewhere.close();
      }
    });
  });
});
