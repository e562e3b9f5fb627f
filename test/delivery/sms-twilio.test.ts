// The Twilio channel driven directly against test/helpers/fake-twilio.ts (Basic auth, form body,
// 201 with a message SID, Twilio-shaped errors).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { twilioChannel } from '../../src/delivery/sms-twilio.js';
import type { FakeTwilio } from '../helpers/fake-twilio.js';
import { freePort } from '../helpers/net.js';
import { ACCOUNT_SID, AUTH_TOKEN, API_KEY_SID, API_KEY_SECRET, SERVICE_SID, FROM, TO, CODE, TEXT, message, failure, startTwilio, twilioProvider } from './sms-fixture.js';

describe('Twilio channel', () => {
  let twilio: FakeTwilio;
  beforeEach(async () => {
    twilio = await startTwilio();
  });
  afterEach(() => twilio.close());

  it('sends with the auth token and a From number', async () => {
    await twilioChannel(twilioProvider(twilio.url)).send(message());
    expect(twilio.requests).toEqual([{ username: ACCOUNT_SID, to: TO, from: FROM, messagingServiceSid: null, body: TEXT, contentType: 'application/x-www-form-urlencoded' }]);
    expect(twilio.accepted).toHaveLength(1);
  });

  it('sends with an API key and a messaging service (base URL with a trailing slash)', async () => {
    const provider = twilioProvider(`${twilio.url}/`, {
      authToken: undefined,
      apiKeySid: API_KEY_SID,
      apiKeySecret: API_KEY_SECRET,
      from: undefined,
      messagingServiceSid: SERVICE_SID,
    });
    await twilioChannel(provider).send(message());
    expect(twilio.requests).toEqual([expect.objectContaining({ username: API_KEY_SID, to: TO, from: null, messagingServiceSid: SERVICE_SID, body: TEXT })]);
    expect(twilio.accepted).toHaveLength(1);
  });

  it('gives up at once on a number Twilio calls invalid, with a short message', async () => {
    const err = await failure(twilioChannel(twilioProvider(twilio.url)).send(message({ recipient: '+1555' })));
    expect(err.message).toBe("twilio 400 21211: The 'To' number +1555 is not a valid phone number.");
    expect(err).toMatchObject({ permanent: true, invalidRecipient: true, status: 400 });
    expect(twilio.accepted).toEqual([]);
  });

  it.each([
    [21614, "'To' number is not a valid mobile number"],
    [21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"],
    [21610, 'Attempt to send to unsubscribed recipient'],
    [21612, "The 'To' phone number is not currently reachable via SMS"],
  ])('gives up at once on Twilio error %i', async (code, text) => {
    twilio.reject.set(TO, { code, message: text });
    const err = await failure(twilioChannel(twilioProvider(twilio.url)).send(message()));
    expect(err).toMatchObject({ permanent: true, invalidRecipient: true, message: `twilio 400 ${code}: ${text}` });
  });

  it('gives up at once on bad credentials and an unknown account, without quoting a credential', async () => {
    const badToken = await failure(twilioChannel(twilioProvider(twilio.url, { authToken: 'wrong-token-wrong-token' })).send(message()));
    expect(badToken).toMatchObject({ permanent: true, status: 401, message: 'twilio 401 20003: Authenticate' });
    const badKey = await failure(twilioChannel(twilioProvider(twilio.url, { authToken: undefined, apiKeySid: API_KEY_SID, apiKeySecret: 'not-the-secret' })).send(message()));
    expect(badKey).toMatchObject({ permanent: true, status: 401 });
    const elsewhere = await failure(twilioChannel(twilioProvider(`${twilio.url}/nowhere`)).send(message()));
    expect(elsewhere).toMatchObject({ permanent: true, status: 404 });
    for (const err of [badToken, badKey, elsewhere]) {
      expect(err.message).not.toContain(AUTH_TOKEN);
      expect(err.message).not.toContain('not-the-secret');
      expect(err.message.length).toBeLessThanOrEqual(200);
    }
  });

  it('never puts the text, the code or a credential in the error, even when Twilio echoes them', async () => {
    twilio.reject.set(TO, { code: 21612, message: 'Cannot route "{body}" (auth {password})' });
    const err = await failure(twilioChannel(twilioProvider(twilio.url)).send(message()));
    expect(err.permanent).toBe(true);
    expect(err.message).toMatch(/^twilio 400 21612: Cannot route "\[redacted\]" \(auth \[redacted\]\)$/);
    expect(err.message).not.toContain(CODE);
    expect(err.message).not.toContain(AUTH_TOKEN);
    expect(err.message).not.toContain('\n');
  });

  it('retries 429, 5xx, a timeout and a server that is down', async () => {
    const channel = twilioChannel(twilioProvider(twilio.url), { timeoutMs: 300 });
    twilio.throttleNext = 1;
    expect(await failure(channel.send(message()))).toMatchObject({ permanent: false, message: 'twilio 429 20429: Too Many Requests' });
    twilio.failNext = 1;
    expect(await failure(channel.send(message()))).toMatchObject({ permanent: false, message: 'twilio 500 20500: Internal Server Error' });
    twilio.hang = true;
    expect(await failure(channel.send(message()))).toMatchObject({ permanent: false, message: 'twilio request timed out' });
    const down = twilioChannel(twilioProvider(`http://127.0.0.1:${await freePort()}`));
    expect(await failure(down.send(message()))).toMatchObject({ permanent: false, message: 'twilio request failed: ECONNREFUSED' });
    expect(twilio.accepted).toEqual([]);
  });
});
