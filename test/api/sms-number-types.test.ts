// Texts go only to kinds of numbers that receive them and belong to one person (issue 11 item 14):
// by default MOBILE and FIXED_LINE_OR_MOBILE (most US numbers). Real numbers of every other kind are
// tried on the three surfaces that send codes by SMS (the hosted pages, the Auth0 API and the
// Userfront API): each is refused with a clear message, nothing is texted, and the refusal is
// audited with the type. A connection's `numberTypes` widens the list.
import { userfrontTenant } from '../helpers/userfront-app.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { parsePhone } from '../../src/passwordless/identifiers.js';
import { oidcFixture } from '../oidc/fixture.js';
import { apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;

/** Valid numbers that are not mobiles, by libphonenumber type. */
const REFUSED: Array<[string, string]> = [
  ['+447012345678', 'PERSONAL_NUMBER'], // UK 070 "personal" numbers, forwarded anywhere
  ['+15002530000', 'PERSONAL_NUMBER'], // US 500
  ['+18002530000', 'TOLL_FREE'],
  ['+445612345678', 'VOIP'], // UK 056
  ['+447640123456', 'PAGER'], // UK 076
  ['+442079460000', 'FIXED_LINE'], // London
];
/** Accepted kinds, one number per surface (hosted page, Auth0 API, Userfront API). */
const ACCEPTED: Array<[string, string[]]> = [
  ['MOBILE', ['+447400123411', '+447400123412', '+447400123413']],
  ['FIXED_LINE_OR_MOBILE', ['+16502530000', '+16502530001', '+16502530002']],
];

const PAGE_MESSAGE =
  'We can only send codes by text to mobile numbers, and this one is a landline, toll-free, VoIP or other kind of number. Use a mobile number or your email address.';
const API_MESSAGE = 'Codes are sent by text to mobile numbers only; this number is a landline, toll-free, VoIP or other number that is not accepted.';

const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe('SMS number types', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', {
      ...oidcFixture,
      clients: [oidcFixture.clients[0], NATIVE, userfrontTenant('demo1234', { redirect_uris: ['http://127.0.0.1:9/dashboard'] })],
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US', 'GB'], provider: { type: 'capture' }, sendsPerIpPerHour: 1000 },
        { id: 'sms-landlines', type: 'sms', allowedCountries: ['GB'], provider: { type: 'capture' }, numberTypes: ['MOBILE', 'FIXED_LINE'], sendsPerIpPerHour: 1000 },
      ],
    });
  });
  afterAll(() => t?.stop());

  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as unknown });
  const auth0Start = (phone_number: string, connection = 'sms') =>
    fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'native', client_secret: NATIVE.client_secret, connection, phone_number }),
    }).then(json);
  const userfrontStart = (phoneNumber: string) =>
    fetch(`${t.url}/v0/tenants/demo1234/auth/code`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'sms', phoneNumber }),
    }).then(json);
  const texts = (recipient: string) => t.sesame.services.db.prisma.outboxMessage.count({ where: { channel: 'sms', recipient } });
  const refusals = (identifier: string) => t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'sms.refused', identifier }, select: { reason: true } });

  it('uses real numbers of each type', () => {
    for (const [number, type] of REFUSED) expect([number, parsePhone(number)?.type]).toEqual([number, type]);
    for (const [type, numbers] of ACCEPTED) for (const number of numbers) expect([number, parsePhone(number)?.type]).toEqual([number, type]);
  });

  it.each(REFUSED)('refuses %s (%s) on the hosted page, the Auth0 API and the Userfront API', async (number, type) => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config, { scope: 'openid phone' });
    const page = await started.browser.submit(started.page, '/email', { identifier: number }, t.url);
    expect([page.status, alertOf(page.html)]).toEqual([400, PAGE_MESSAGE]);
    expect(await auth0Start(number)).toEqual({ status: 400, body: { error: 'bad.phone_number', error_description: API_MESSAGE } });
    expect(await userfrontStart(number)).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: API_MESSAGE } });
    expect(await texts(number)).toBe(0);
    expect(await refusals(number)).toEqual([{ reason: `number type ${type}` }, { reason: `number type ${type}` }, { reason: `number type ${type}` }]);
  });

  it.each(ACCEPTED)('texts %s numbers on all three', async (_type, [hosted, auth0, userfront]) => {
    const config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
    const started = await startLogin(t, config, { scope: 'openid phone' });
    const page = await started.browser.submit(started.page, '/email', { identifier: hosted! }, t.url);
    expect([page.status, page.html.includes(`We sent a code by text message to ${hosted}.`)]).toEqual([200, true]);
    expect(await auth0Start(auth0!)).toEqual({ status: 200, body: { _id: expect.stringMatching(/^[0-9a-f]{24}$/), phone_number: auth0, phone_verified: false } });
    expect(await userfrontStart(userfront!)).toEqual({ status: 200, body: { message: 'OK', result: { channel: 'sms', phoneNumber: userfront } } });
    for (const number of [hosted!, auth0!, userfront!]) {
      expect([number, await texts(number), await refusals(number)]).toEqual([number, 1, []]);
    }
  });

  it('texts the kinds a connection lists in numberTypes', async () => {
    expect(await auth0Start('+442079460000', 'sms-landlines')).toEqual({
      status: 200,
      body: { _id: expect.stringMatching(/^[0-9a-f]{24}$/), phone_number: '+442079460000', phone_verified: false },
    });
    expect(await texts('+442079460000')).toBe(1);
    expect(await auth0Start('+447640123456', 'sms-landlines')).toEqual({ status: 400, body: { error: 'bad.phone_number', error_description: API_MESSAGE } });
  });
});
