// Delivery channels: SMTP through nodemailer, or capture (kept in the outbox for /dev/outbox).
import nodemailer from 'nodemailer';
import type { Channel } from './worker.js';
import { DeliveryError } from './errors.js';

export function smtpChannel(smtpUrl: string, from: string): Channel & { close(): void } {
  // Pooled: each new SMTP connection costs a handshake and often a greeting delay (smtp-server and
  // Postfix's postscreen wait before greeting, smtp-server 100 ms), so connections are kept and
  // reused; a connection the server drops is replaced and its message re-queued by nodemailer.
  // Settings in the URL (`?pool=false`, `?maxConnections=2`) win over these.
  const transport = nodemailer.createTransport({ url: smtpUrl, pool: true, maxConnections: 5, maxMessages: Infinity });
  return {
    async send(message) {
      try {
        await transport.sendMail({ from, to: message.recipient, subject: message.subject, text: message.text, html: message.html });
        return 'sent';
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        // 5xx means the server refused for good (bad address, policy); retrying won't help.
        throw new DeliveryError((err as Error).message, code !== undefined && code >= 500 && code < 600);
      }
    },
    close: () => transport.close(),
  };
}

/** Without SMTP, messages count as delivered once captured; their rows keep the bodies for the dev outbox. */
export const captureChannel: Channel = {
  send: async () => 'captured',
};
