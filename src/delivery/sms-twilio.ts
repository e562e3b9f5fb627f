// SMS through Twilio Programmable Messaging: one form POST to the Messages resource per text.
//   POST {baseUrl}/2010-04-01/Accounts/{accountSid}/Messages.json   To, Body, From | MessagingServiceSid
// Authenticated with Basic accountSid:authToken, or apiKeySid:apiKeySecret (preferred when both are set).
// A number Twilio calls bad or unreachable, and bad credentials, are given up at once; 429, 5xx,
// timeouts and network errors are retried by the outbox worker. Error messages are short and never
// carry the text (it holds the code) or credentials.
import type { SmsProvider } from '../config/schema.js';
import type { ClaimedMessage } from '../storage/outbox.js';
import { DeliveryError, isPermanentStatus } from './errors.js';
import type { Channel } from './worker.js';

export type TwilioProvider = Extract<SmsProvider, { type: 'twilio' }>;

export interface SmsChannelOptions {
  /** Per-request timeout; 10 s by default. */
  timeoutMs?: number;
}

/** Twilio error codes that say the number will never take this text: invalid, not mobile, region off, opted out, unreachable. */
export const TWILIO_RECIPIENT_ERRORS: ReadonlySet<number> = new Set([21211, 21614, 21408, 21610, 21612]);

export function twilioChannel(provider: TwilioProvider, options: SmsChannelOptions = {}): Channel {
  const [user, password] = provider.apiKeySid && provider.apiKeySecret ? [provider.apiKeySid, provider.apiKeySecret] : [provider.accountSid, provider.authToken ?? ''];
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const url = `${provider.baseUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(provider.accountSid)}/Messages.json`;
  const secrets = [provider.authToken, provider.apiKeySecret].filter((s): s is string => !!s);

  return {
    async send(message) {
      const form = new URLSearchParams({ To: message.recipient, Body: message.text });
      if (provider.messagingServiceSid) form.set('MessagingServiceSid', provider.messagingServiceSid);
      if (provider.from) form.set('From', provider.from);
      const response = await request('twilio', () =>
        fetch(url, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: form.toString(),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        }),
      );
      if (response.ok) {
        await response.body?.cancel();
        return 'sent';
      }
      const { status } = response;
      const error = await twilioError(response);
      const invalidRecipient = status === 400 && error.code !== undefined && TWILIO_RECIPIENT_ERRORS.has(error.code);
      const detail = error.code !== undefined ? ` ${error.code}${error.message ? `: ${error.message}` : ''}` : '';
      // 401/403/404 (credentials, account) and 400 (bad number, bad sender) stay wrong on retry.
      throw new DeliveryError(redact(`twilio ${status}${detail}`, message, secrets), invalidRecipient || isPermanentStatus(status), {
        invalidRecipient,
        status,
        providerCode: error.code,
      });
    },
  };
}

/** Runs a fetch; a timeout or network failure becomes a short, retryable error. */
export async function request(name: string, run: () => Promise<Response>): Promise<Response> {
  try {
    return await run();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const reason = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timed out' : `failed: ${e.cause?.code ?? e.name}`;
    throw new DeliveryError(`${name} request ${reason}`, false);
  }
}

async function twilioError(response: Response): Promise<{ code?: number; message?: string }> {
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown };
    return {
      code: typeof body.code === 'number' ? body.code : typeof body.code === 'string' && /^\d+$/.test(body.code) ? Number(body.code) : undefined,
      message: typeof body.message === 'string' ? body.message : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * Keeps an error message safe to store and log: one line, at most 200 characters, without the text,
 * the digit runs in it (the code) or a credential, even if a provider echoes them back.
 */
export function redact(text: string, message: Pick<ClaimedMessage, 'text'>, secrets: readonly string[] = []): string {
  let out = text;
  const hidden = [message.text, ...secrets, ...(message.text.match(/\d{4,}/g) ?? [])].filter((s) => s.trim().length > 0);
  for (const s of hidden.sort((a, b) => b.length - a.length)) out = out.split(s).join('[redacted]');
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > 200 ? `${out.slice(0, 199)}…` : out;
}
