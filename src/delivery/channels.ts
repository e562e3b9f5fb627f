// Delivery channels: SMTP through nodemailer, or capture (kept in the outbox for /dev/outbox).
import nodemailer from 'nodemailer';
import type { Channel } from './worker.js';
import { DeliveryError } from './errors.js';

export function smtpChannel(smtpUrl: string, from: string): Channel & { close(): void } {
  const transport = nodemailer.createTransport(smtpUrl);
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
