// The generic HTTP gateway channel driven directly against a receiver that checks the HMAC signature.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gatewayChannel } from '../../src/delivery/sms-gateway.js';
import { TO, CODE, TEXT, GATEWAY_SECRET, message, failure, type FakeGateway, verify, startGateway, gatewayProvider } from './sms-fixture.js';

describe('HTTP gateway channel', () => {
  let gateway: FakeGateway;
  beforeEach(async () => {
    gateway = await startGateway();
  });
  afterEach(() => gateway.close());

  it('POSTs the default JSON body, signed, with the message id and extra headers', async () => {
    await gatewayChannel(gatewayProvider(gateway.url, { headers: { 'X-Api-Key': 'gw-key' } })).send(message());
    expect(gateway.delivered).toHaveLength(1);
    const [seen] = gateway.delivered;
    expect(seen).toMatchObject({ method: 'POST', path: '/sms' });
    expect(seen!.headers['content-type']).toBe('application/json');
    expect(seen!.headers['x-api-key']).toBe('gw-key');
    expect(seen!.headers['x-sesame-message-id']).toBe(message().id);
    expect(seen!.headers['x-sesame-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(JSON.parse(seen!.raw)).toEqual({ to: TO, text: TEXT });
    expect(verify(GATEWAY_SECRET, seen!.headers['x-sesame-signature'] as string, seen!.raw)).toBe(true);
    expect(verify('another-secret-another-secret-another-secret', seen!.headers['x-sesame-signature'] as string, seen!.raw)).toBe(false);
    expect(verify(GATEWAY_SECRET, seen!.headers['x-sesame-signature'] as string, seen!.raw.replace(CODE, '654321'))).toBe(false);
  });

  it('PUTs a form body with custom fields, placeholders replaced once, as written', async () => {
    const provider = gatewayProvider(gateway.url, {
      method: 'PUT',
      format: 'form',
      body: { phone: '{{to}}', message: '{{text}}', reference: 'sesame-{{messageId}}', sender: 'Sesame' },
    });
    const tricky = 'Code 123456 {{to}} $& $1 {{messageId}}';
    await gatewayChannel(provider).send(message({ text: tricky }));
    const [seen] = gateway.delivered;
    expect(seen).toMatchObject({ method: 'PUT' });
    expect(seen!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(seen!.raw))).toEqual({
      phone: TO,
      message: tricky,
      reference: `sesame-${message().id}`,
      sender: 'Sesame',
    });
    expect(verify(GATEWAY_SECRET, seen!.headers['x-sesame-signature'] as string, seen!.raw)).toBe(true);
  });

  it('sends unsigned without a secret', async () => {
    await gateway.close();
    gateway = await startGateway(null);
    await gatewayChannel(gatewayProvider(gateway.url, { secret: undefined })).send(message());
    expect(gateway.delivered).toHaveLength(1);
    expect(gateway.delivered[0]!.headers['x-sesame-signature']).toBeUndefined();
  });

  it('gives up on 4xx, retries 408, 429 and 5xx, and never quotes the answer', async () => {
    const channel = gatewayChannel(gatewayProvider(gateway.url));
    gateway.answers = [400, 404, 408, 429, 500, 503];
    for (const [status, permanent] of [
      [400, true],
      [404, true],
      [408, false],
      [429, false],
      [500, false],
      [503, false],
    ] as const) {
      const err = await failure(channel.send(message()));
      expect(err).toMatchObject({ permanent, status, message: `gateway answered ${status}` });
    }
    expect(gateway.delivered).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
