// With `signUp: existing-only`, an SMS send must not tell whether a number has an account
// (issue 11 item 15: known numbers answered ~1 ms slower because only they rendered, queued and
// counted a text). A timing test would be flaky on a loaded machine, so this proves the cause
// is gone: interleaved sends to known and unknown numbers of one prefix write the very same rows
// (codes, counters, outbox, audit; numbers and codes masked) and answer the same; only afterwards
// does the delivery worker text the known numbers (through a fake Twilio) and drop the others.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startFakeTwilio, smsCode, type FakeTwilio } from '../helpers/fake-twilio.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { upsertVerifiedPhoneUser } from '../../src/storage/users.js';
import { apiFixture } from '../api/fixture.js';
import { waitFor } from '../helpers/wait.js';

const NATIVE = apiFixture.clients[0]!;
const KNOWN = ['+16502531001', '+16502531002', '+16502531003'];
const UNKNOWN = ['+16502532001', '+16502532002', '+16502532003'];

type Row = Record<string, unknown>;

describe.each(ENGINES)('SMS sends with sign-up closed on %s', (engine) => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  beforeAll(async () => {
    twilio = await startFakeTwilio();
    t = await startTestSesame(engine, {
      ...apiFixture,
      signUp: 'existing-only',
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: twilio.provider() },
      ],
    });
    for (const number of KNOWN) await upsertVerifiedPhoneUser(t.sesame.services.db, number);
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  const prisma = () => t.sesame.services.db.prisma;
  /** Every row a send may write, by table and key. */
  async function snapshot(): Promise<Map<string, string>> {
    const tables: Array<[string, Row[], string]> = [
      ['code', await prisma().oneTimeCode.findMany(), 'id'],
      ['counter', await prisma().counter.findMany(), 'key'],
      ['outbox', await prisma().outboxMessage.findMany(), 'id'],
      ['audit', await prisma().auditEvent.findMany(), 'id'],
      ['user', await prisma().user.findMany(), 'id'],
    ];
    return new Map(tables.flatMap(([table, rows, key]) => rows.map((row) => [`${table} ${String(row[key])}`, JSON.stringify(row)] as const)));
  }
  /** What one send wrote, with the number, codes, ids, hashes and times masked. */
  function written(before: Map<string, string>, after: Map<string, string>, number: string): string[] {
    const changed = [...after].filter(([id, row]) => before.get(id) !== row);
    return changed
      .map(([id, row]) => {
        const table = id.split(' ')[0]!;
        const fields = JSON.parse(row) as Row;
        const masked = Object.entries(fields)
          .filter(([name]) => !['id', 'codeHash', 'keyId', 'count', 'flowKey'].includes(name) && !/At$|Start$/.test(name))
          .map(([name, value]) => `${name}=${JSON.stringify(value)}`);
        return `${table} ${masked.join(' ')}`.replaceAll(number, '<number>').replace(/(?<![+\d])\d{6}(?!\d)/g, '<code>');
      })
      .sort();
  }
  async function send(phone_number: string) {
    const before = await snapshot();
    const res = await fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'sms', phone_number }),
    });
    const body = (await res.json()) as Row;
    return { status: res.status, body: { ...body, _id: typeof body._id, phone_number: body.phone_number === phone_number }, rows: written(before, await snapshot(), phone_number) };
  }

  it('does the same work for known and unknown numbers, and texts only the known ones afterwards', async () => {
    // Stopped, the worker cannot change outbox rows between the snapshots; it runs again below.
    await t.sesame.worker.stop(0);
    const sends = [];
    for (const [known, unknown] of KNOWN.map((k, i) => [k, UNKNOWN[i]!] as const)) sends.push([await send(known), await send(unknown)] as const);
    for (const [known, unknown] of sends) {
      expect(known.status).toBe(200);
      expect(known.body).toEqual({ _id: 'string', phone_number: true, phone_verified: false });
      expect(known.rows).toEqual([
        'audit type="code.sent" clientId="native" userId=null identifier="<number>" ip="127.0.0.1" reason="sms" repeatKey=null userAgent=null',
        'code identifier="<number>" attempts=0',
        'counter key="send-cool:<number>:n:127.0.0.0/24" blockedUntil=null',
        'counter key="send-hour:<number>" blockedUntil=null',
        'counter key="send-hour:<number>:n:127.0.0.0/24" blockedUntil=null',
        'counter key="send-ip-sms:127.0.0.1" blockedUntil=null',
        'counter key="sms-prefix:+165025" blockedUntil=null',
        'counter key="sms-sent:country:US" blockedUntil=null',
        'counter key="sms-sent:prefix:+165025" blockedUntil=null',
        'outbox channel="sms" connectionId="sms" recipient="<number>" subject="" text="<code> is your Sesame code. It works for 10 minutes. Never share it.\\n\\n@127.0.0.1 #<code>" html=null status="pending" attempts=0 lockedUntil=null lastError=null',
      ]);
      expect(unknown).toEqual(known);
    }

    t.sesame.worker.start();
    for (const number of KNOWN) expect(smsCode(await twilio.next(number, 30_000))).toMatch(/^\d{6}$/);
    // The worker handles messages in batches, so the other texts are decided by now or very soon.
    await waitFor(async () => (await prisma().outboxMessage.count({ where: { recipient: { in: UNKNOWN }, status: 'pending' } })) === 0, {
      timeout: 20_000,
      what: 'the texts to unknown numbers to be decided',
    });
    const dropped = await prisma().outboxMessage.findMany({
      where: { recipient: { in: UNKNOWN } },
      select: { recipient: true, status: true, lastError: true, text: true },
      orderBy: { recipient: 'asc' },
    });
    expect(dropped).toEqual(UNKNOWN.map((recipient) => ({ recipient, status: 'skipped', lastError: 'no account', text: '' })));
    expect(twilio.messages.map((m) => m.to).sort()).toEqual(KNOWN);
  });
});
