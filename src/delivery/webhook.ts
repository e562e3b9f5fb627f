// Webhook delivery: instead of sending mail, POST the code and link to the operator in Userfront's
// payload shape, signed so the receiver can trust it:
//   X-Sesame-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
// Non-2xx answers are retried by the outbox worker; 4xx other than 408/429 are given up at once.
import { createHmac } from 'node:crypto';
import type { WebhookDelivery } from '../config/schema.js';
import type { Channel } from './worker.js';
import { DeliveryError, isPermanentStatus } from './errors.js';

export function signWebhook(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface PayloadInput {
  email: string;
  code: string | null;
  url: string | null;
  expiresAt: Date;
  message: string;
  userId: string | null;
  clientId: string;
}

/** Userfront's webhook body (PROTOCOLS.md section 3), plus the code when there is one. */
export function webhookPayload(input: PayloadInput) {
  const query = input.url ? new URL(input.url).searchParams : undefined;
  return {
    action: 'login',
    model: 'user',
    mode: 'live',
    factor: {
      strategy: input.url ? 'link' : input.code ? 'verificationCode' : 'none',
      channel: 'email',
      email: input.email,
      url: input.url,
      token: query?.get('token') ?? null,
      uuid: query?.get('uuid') ?? null,
      code: input.code,
      message: input.message,
      expiresAt: input.expiresAt.toISOString(),
    },
    record: { mode: 'live', userId: input.userId, tenantId: input.clientId, userUuid: input.userId },
  };
}

export function webhookChannel(deliveryOf: (connectionId: string | undefined) => WebhookDelivery | undefined): Channel {
  return {
    async send(message) {
      const delivery = deliveryOf(message.connectionId);
      if (!delivery) throw new DeliveryError(`no webhook configured for connection ${message.connectionId ?? '(none)'}`, true);
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sesame-signature': signWebhook(delivery.secret, message.text), 'x-sesame-message-id': message.id },
        body: message.text,
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      if (response.ok) return 'sent';
      throw new DeliveryError(`webhook answered ${response.status}`, isPermanentStatus(response.status));
    },
  };
}
