// A real SMTP server (smtp-server) that keeps every message it receives, for reading codes from mail.
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { decodeHeaderWords, parseMail, partOf } from './mime.js';

export interface ReceivedMail {
  to: string[];
  from: string;
  subject: string;
  raw: string;
}

export interface MailSink {
  url: string;
  port: number;
  messages: ReceivedMail[];
  /** Every message received for `to` so far (taken by next() or not). */
  to(to: string): ReceivedMail[];
  /** Resolves with the next message to `to` (or one already received and not taken yet). */
  next(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

function header(raw: string, name: string): string {
  const match = new RegExp(`^${name}:\\s*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(raw);
  return match ? match[1]!.replace(/\r?\n[ \t]/g, ' ').trim() : '';
}

/** `port` 0 (the default) takes an ephemeral one; a fixed port lets a test start the sink after Sesame was told to use it (an SMTP server that is down, then comes up). */
export async function startMailSink(port = 0): Promise<MailSink> {
  const messages: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const waiters: Array<() => void> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    // smtp-server looks up each client's address in DNS by default: a query that leaves the machine.
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          subject: header(raw, 'Subject'),
          raw,
        });
        for (const wake of waiters.splice(0)) wake();
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${bound}`,
    port: bound,
    messages,
    to: (to) => messages.filter((m) => m.to.includes(to)),
    async next(to, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find((m) => !taken.has(m) && m.to.includes(to));
        if (found) {
          taken.add(found);
          return found;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no mail for ${to} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The sign-in code from a code email's subject ("123456 is your ... code"), encoded words decoded (German "für"). */
export function codeFrom(mail: ReceivedMail): string {
  const match = /\b(\d{6})\b/.exec(decodeHeaderWords(mail.subject));
  if (!match) throw new Error(`no code in subject: ${mail.subject}`);
  return match[1]!;
}

/**
 * The URL with `path` in a mail's text part, as a text-only reader sees and opens it (MIME decoded
 * by mime.ts; the text part is plain text, so no HTML entity is undone here).
 */
export function linkFrom(mail: ReceivedMail, path: string): string {
  const text = partOf(parseMail(mail.raw), 'text/plain');
  const escaped = path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const url = new RegExp(`https?://\\S+${escaped}\\?\\S+`).exec(text)?.[0];
  if (!url) throw new Error(`no ${path} link in mail: ${mail.subject}`);
  return url;
}
