// The SMS pumping guard, end to end through /passwordless/start (the hosted pages share sendCode):
// once 20 codes to one number prefix went unused, the next send from the same requester network
// still goes (the guard claims that network's one slot a minute on the prefix) and the one after is
// refused with 429, with warn lines `sms_low_conversion` for the prefix and the country; codes to
// elsewhere still send and verify. (Other networks and other prefixes of the country:
// sms-guard-networks.test.ts.) And an SMS connection without a country allow-list is refused when
// the configuration loads.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { parsePhone, phonePrefix } from '../../src/passwordless/identifiers.js';
import { capturingLogger } from '../helpers/logs.js';
import { startSesame, type RunningSesame } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { OTP, apiFixture } from '../api/fixture.js';

const NATIVE = apiFixture.clients[0]!;
/** 22 valid US mobile-or-fixed numbers sharing the prefix +165025 (+1 650 253 00NN). */
const FLOOD = Array.from({ length: 22 }, (_, i) => `+1650253${String(i).padStart(4, '0')}`);
const PREFIX = '+165025';

interface LogLine {
  level: number;
  msg: string;
  alert?: string;
  scope?: string;
  sent?: number;
  verified?: number;
  ratio?: number;
  slowed?: boolean;
}

describe('SMS conversion guard', () => {
  const { logger, lines } = capturingLogger('info');
  let database: TestDatabase;
  let sesame: RunningSesame;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    sesame = await startSesame({
      env: { NODE_ENV: 'test' },
      issuerFromPort: true,
      logger,
      overrides: {
        port: 0,
        host: '127.0.0.1',
        databaseUrl: database.url,
        delivery: { pollInterval: 200 },
        ...apiFixture,
        connections: [
          { id: 'email', type: 'email' },
          {
            id: 'sms',
            type: 'sms',
            allowedCountries: ['US', 'GB'],
            provider: { type: 'capture' },
            minConversion: 0.5,
            sendsPerPrefixPerHour: 1000,
            sendsPerIpPerHour: 1000,
          },
        ],
      },
    });
    rp = await oidc.discovery(new URL(sesame.services.config.issuer), 'native', undefined, oidc.ClientSecretPost(NATIVE.client_secret), {
      execute: [oidc.allowInsecureRequests],
    });
  });
  afterAll(async () => {
    await sesame?.stop();
    await database?.drop();
  });

  const start = (phone_number: string) =>
    fetch(`${sesame.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'native', client_secret: NATIVE.client_secret, connection: 'sms', phone_number }),
    });

  /** The code of the latest text to `to` (the capture provider keeps it in the outbox). */
  async function codeTo(to: string): Promise<string> {
    const row = await sesame.services.db.prisma.outboxMessage.findFirstOrThrow({ where: { channel: 'sms', recipient: to }, orderBy: { createdAt: 'desc' } });
    return /^(\d{6}) /.exec(row.text)![1]!;
  }

  const signIn = (username: string, otp: string) => oidc.genericGrantRequest(rp, OTP, { username, otp, realm: 'sms', scope: 'openid phone' });

  const guardLines = () => lines.map((l) => JSON.parse(l) as LogLine).filter((l) => l.alert === 'sms_low_conversion');

  it('uses 22 valid numbers of one prefix', () => {
    for (const number of FLOOD) {
      expect(parsePhone(number), number).toMatchObject({ e164: number, country: 'US' });
      expect(phonePrefix(number)).toBe(PREFIX);
    }
    expect(parsePhone('+447400123411')?.country).toBe('GB');
  });

  it('lets one more send through once a prefix converts too little, then answers 429; elsewhere is unaffected', async () => {
    // A code to another prefix (another country), sent before the flood and verified after it.
    expect((await start('+447400123411')).status).toBe(200);
    const earlyCode = await codeTo('+447400123411');

    for (const number of FLOOD.slice(0, 20)) expect([number, (await start(number)).status]).toEqual([number, 200]);
    expect(guardLines()).toEqual([]); // below the sample size, nothing is judged

    // 20 sent, 0 verified: the guard claims its slot for this send and warns.
    const through = await start(FLOOD[20]!);
    expect(through.status).toBe(200);
    expect(guardLines()).toContainEqual(
      expect.objectContaining({ level: 40, alert: 'sms_low_conversion', scope: `prefix:${PREFIX}`, sent: 20, verified: 0, ratio: 0, slowed: false }),
    );
    expect(guardLines()).toContainEqual(expect.objectContaining({ level: 40, scope: 'country:US', sent: 20, verified: 0, slowed: false }));

    // The next one, right after, is slowed.
    const slowed = await start(FLOOD[21]!);
    expect(slowed.status).toBe(429);
    const retryAfter = Number(slowed.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await slowed.json()).toEqual({ error: 'too_many_requests', error_description: `Too many requests; wait ${retryAfter} s before asking for another code.` });
    expect(guardLines().at(-1)).toMatchObject({ level: 40, slowed: true });
    const db = sesame.services.db.prisma;
    expect(await db.outboxMessage.count({ where: { channel: 'sms', recipient: FLOOD[20]! } })).toBe(1);
    expect(await db.outboxMessage.count({ where: { channel: 'sms', recipient: FLOOD[21]! } })).toBe(0);
    expect(await db.auditEvent.count({ where: { type: 'code.send_limited', reason: 'conversion' } })).toBe(1);

    // Another prefix: the code sent before verifies, and a new one sends and verifies.
    expect(decodeJwt((await signIn('+447400123411', earlyCode)).id_token!)).toMatchObject({ phone_number: '+447400123411', phone_number_verified: true });
    expect((await start('+447400123412')).status).toBe(200);
    const laterCode = await codeTo('+447400123412');
    expect(decodeJwt((await signIn('+447400123412', laterCode)).id_token!)).toMatchObject({ phone_number: '+447400123412' });

    // The guard slows sends only: a code already sent to the guarded prefix still verifies.
    const floodCode = await codeTo(FLOOD[5]!);
    expect(decodeJwt((await signIn(FLOOD[5]!, floodCode)).id_token!)).toMatchObject({ phone_number: FLOOD[5] });

    // Nothing in the guard's lines identifies a person or carries a code.
    const logged = lines.join('\n');
    for (const secret of [earlyCode, laterCode, floodCode]) expect(logged).not.toContain(`"${secret}"`);
  });
});

describe('SMS connection configuration', () => {
  function configFile(content: unknown): string {
    const file = join(mkdtempSync(join(tmpdir(), 'sesame-config-')), 'sesame.config.json');
    writeFileSync(file, JSON.stringify(content));
    return file;
  }
  const withSms = (sms: Record<string, unknown>) => ({
    connections: [
      { id: 'email', type: 'email' },
      { id: 'sms', type: 'sms', provider: { type: 'capture' }, ...sms },
    ],
  });

  it.each([
    [{}, 'invalid configuration at connections.1.allowedCountries: Invalid input: expected array, received undefined'],
    [{ allowedCountries: [] }, 'invalid configuration at connections.1.allowedCountries: an SMS connection needs a country allow-list'],
    [{ allowedCountries: ['us'] }, 'invalid configuration at connections.1.allowedCountries.0: ISO 3166 alpha-2 code, like US'],
    [{ allowedCountries: ['US'], minConversion: 1.5 }, 'invalid configuration at connections.1.minConversion: Too big: expected number to be <=1'],
    [
      { allowedCountries: ['US'], numberTypes: ['PREMIUM_RATE'] },
      'invalid configuration at connections.1.numberTypes.0: Invalid option: expected one of "MOBILE"|"FIXED_LINE_OR_MOBILE"|"FIXED_LINE"|"VOIP"|"PERSONAL_NUMBER"|"TOLL_FREE"|"PAGER"|"UAN"|"VOICEMAIL"',
    ],
  ])('refuses an sms connection with %j', (sms, message) => {
    expect(() => loadConfig({ SESAME_CONFIG: configFile(withSms(sms)) })).toThrowError(new ConfigError(message));
    expect(() => loadConfig({}, withSms(sms))).toThrowError(ConfigError);
  });

  it('accepts one with an allow-list, with the defaults of its caps', () => {
    const config = loadConfig({ SESAME_CONFIG: configFile(withSms({ allowedCountries: ['US'] })) });
    expect(config.connections[1]).toEqual({
      id: 'sms',
      type: 'sms',
      allowedCountries: ['US'],
      provider: { type: 'capture' },
      numberTypes: ['MOBILE', 'FIXED_LINE_OR_MOBILE'],
      sendsPerPrefixPerHour: 30,
      sendsPerIpPerHour: 10,
      minConversion: 0.2,
    });
  });
});
