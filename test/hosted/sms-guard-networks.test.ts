// The SMS pumping guard must not become a country-wide throttle (issue 11 item 13). An attacker
// pumps unverified texts to one number prefix from one /24 network, rotating addresses inside it
// (so the per-IP cap never trips). Afterwards that network is slowed on that prefix, whichever of
// its addresses it uses; but a user of another prefix of the same country, even behind the same
// network, and a user of the pumped prefix on another network, each get a text at once; and the
// country's low conversion is alerted on (warn line `sms_low_conversion`, `slowed: false`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { postJson } from '../helpers/from-address.js';
import { capturingLogger } from '../helpers/logs.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { parsePhone, phonePrefix } from '../../src/passwordless/identifiers.js';
import { apiFixture } from '../api/fixture.js';

/** 22 valid US numbers of the prefix +165025 (+1 650 253 00NN), the pumped range. */
const FLOOD = Array.from({ length: 22 }, (_, i) => `+1650253${String(i).padStart(4, '0')}`);
const PUMPED = '+165025';
/** A user of the same country, another prefix. */
const NEIGHBOUR = '+14155550142';
/** A user of the pumped prefix, and another number of it the attacker tries next. */
const SAME_PREFIX_USER = '+16502530777';
const FLOOD_MORE = '+16502530200';

describe.each(ENGINES)('SMS conversion guard per prefix and network on %s', (engine) => {
  const { logger, lines } = capturingLogger('warn');
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(
      engine,
      {
        ...apiFixture,
        connections: [
          { id: 'email', type: 'email' },
          { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: { type: 'capture' }, minConversion: 0.5 },
        ],
      },
      { logger },
    );
  });
  afterAll(() => t?.stop());

  /** `/passwordless/start` of the public client, from `address`. */
  async function start(address: string, phone_number: string) {
    const answer = await postJson(`${t.url}/passwordless/start`, { client_id: 'spa', connection: 'sms', phone_number }, { from: address });
    return { status: answer.status, retryAfter: answer.headers['retry-after'], body: JSON.parse(answer.text) as unknown };
  }
  const accepted = (phone_number: string) => ({
    status: 200,
    retryAfter: undefined,
    body: { _id: expect.stringMatching(/^[0-9a-f]{24}$/), phone_number, phone_verified: false },
  });
  const textsTo = (recipient: string) => t.sesame.services.db.prisma.outboxMessage.count({ where: { channel: 'sms', recipient } });
  const guardLines = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.alert === 'sms_low_conversion');

  it('uses numbers of the pumped prefix and one of another US prefix', () => {
    for (const number of [...FLOOD, SAME_PREFIX_USER, FLOOD_MORE]) expect([number, phonePrefix(number)]).toEqual([number, PUMPED]);
    expect(parsePhone(NEIGHBOUR)?.country).toBe('US');
    expect(phonePrefix(NEIGHBOUR)).not.toBe(PUMPED);
  });

  it('slows the pumping network on the pumped prefix only, and alerts for the country', async () => {
    // 21 go out (the 21st is the first judged: the network claims its one send a minute), each
    // from another address of 127.1.0.0/24.
    for (const [i, number] of FLOOD.slice(0, 21).entries()) expect([number, await start(`127.1.0.${i + 1}`, number)]).toEqual([number, accepted(number)]);
    const slowed = await start('127.1.0.22', FLOOD[21]!);
    expect(slowed).toEqual({
      status: 429,
      retryAfter: expect.stringMatching(/^\d+$/),
      body: { error: 'too_many_requests', error_description: `Too many requests; wait ${slowed.retryAfter} s before asking for another code.` },
    });
    expect(Number(slowed.retryAfter)).toBeLessThanOrEqual(60);
    expect((await start('127.1.0.200', FLOOD_MORE)).status).toBe(429); // the network, not the address
    expect(await textsTo(FLOOD[21]!)).toBe(0);

    // A user of another prefix of the country, behind the very same network: a text at once.
    expect(await start('127.1.0.201', NEIGHBOUR)).toEqual(accepted(NEIGHBOUR));
    expect(await textsTo(NEIGHBOUR)).toBe(1);
    // A user of the pumped prefix on another network: a text at once.
    expect(await start('127.2.0.1', SAME_PREFIX_USER)).toEqual(accepted(SAME_PREFIX_USER));
    expect(await textsTo(SAME_PREFIX_USER)).toBe(1);

    // The country is alerted on, never slowed; the prefix line names the slowed network.
    const alerts = guardLines();
    expect(alerts).toContainEqual(expect.objectContaining({ level: 40, scope: 'country:US', sent: 20, verified: 0, ratio: 0, slowed: false }));
    expect(alerts.filter((l) => l.scope === 'country:US' && l.slowed !== false)).toEqual([]);
    expect(alerts).toContainEqual(expect.objectContaining({ level: 40, scope: `prefix:${PUMPED}`, network: '127.1.0.0/24', slowed: true }));
    expect(alerts).toContainEqual(expect.objectContaining({ level: 40, scope: `prefix:${PUMPED}`, network: '127.2.0.0/24', slowed: false }));
  });
});
