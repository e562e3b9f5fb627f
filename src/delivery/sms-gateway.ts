// SMS through a generic HTTP gateway: the configured body fields, with {{to}}, {{text}} and
// {{messageId}} replaced in each value, sent as JSON or a form to the configured URL. With a
// `secret`, the raw body is signed as webhooks are (X-Sesame-Signature: t=<unix>,v1=<hex>).
// X-Sesame-Message-Id always names the outbox message, so a receiver can drop a retried duplicate.
// 2xx is sent; 4xx other than 408/429 is given up at once; anything else is retried.
import type { SmsProvider } from '../config/schema.js';
import type { ClaimedMessage } from '../storage/outbox.js';
import { signWebhook } from './webhook.js';
import { request, type SmsChannelOptions } from './sms-twilio.js';
import { DeliveryError, isPermanentStatus } from './errors.js';
import type { Channel } from './worker.js';

export type GatewayProvider = Extract<SmsProvider, { type: 'http' }>;

/** Replaces the placeholders in one pass, so a text containing "{{to}}" or "$&" is sent as written. */
export function fillTemplate(template: string, message: Pick<ClaimedMessage, 'recipient' | 'text' | 'id'>): string {
  const values: Record<string, string> = { to: message.recipient, text: message.text, messageId: message.id };
  return template.replace(/\{\{(to|text|messageId)\}\}/g, (_, name: string) => values[name]!);
}

export function gatewayBody(provider: GatewayProvider, message: ClaimedMessage): { contentType: string; body: string } {
  const fields = Object.fromEntries(Object.entries(provider.body).map(([key, value]) => [key, fillTemplate(value, message)]));
  return provider.format === 'form'
    ? { contentType: 'application/x-www-form-urlencoded', body: new URLSearchParams(fields).toString() }
    : { contentType: 'application/json', body: JSON.stringify(fields) };
}

export function gatewayChannel(provider: GatewayProvider, options: SmsChannelOptions = {}): Channel {
  return {
    async send(message) {
      const { contentType, body } = gatewayBody(provider, message);
      const headers = new Headers({ 'content-type': contentType });
      for (const [name, value] of Object.entries(provider.headers)) headers.set(name, value);
      headers.set('x-sesame-message-id', message.id);
      if (provider.secret) headers.set('x-sesame-signature', signWebhook(provider.secret, body));
      const response = await request('gateway', () => fetch(provider.url, { method: provider.method, headers, body, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) }));
      await response.body?.cancel();
      if (response.ok) return 'sent';
      // The answer's body is not quoted: a gateway may echo the text, which holds the code.
      throw new DeliveryError(`gateway answered ${response.status}`, isPermanentStatus(response.status), { status: response.status });
    },
  };
}
