// The bench's SMTP server, Sesame's only one during a run (a process has one SMTP_URL), and its SMS
// gateway (an `http` SMS provider: mfa_oob's first factor is a text). It keeps each message until a
// sign-in or a pool reads its code, except mail to SLOW_DOMAIN: that it
// acknowledges only SLOW_SMTP_MS after the data ends, and drops, so that passwordless_start
// measures Sesame while its mail server is slow. (test/helpers/smtp.ts has no delay, and its sink
// scans every message kept for each read, which thousands of OTP codes make quadratic.)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { ReceivedMail } from '../test/helpers/smtp.js';

export const SLOW_DOMAIN = 'slow.bench.test';
export const SLOW_SMTP_MS = 500;

/** A message as the bench's server received it; `receivedAt` (performance.now()) once its data ended. */
export type BenchReceived = ReceivedMail & { receivedAt: number };

export interface BenchMail {
  url: string;
  /** The SMS gateway's URL: it takes Sesame's default gateway body, JSON `{to, text}`; a text's `raw` is its text. */
  smsUrl: string;
  /** Resolves with the next message (mail, or text to an E.164 number) to `to` not read yet. */
  next(to: string, timeoutMs?: number): Promise<BenchReceived>;
  close(): Promise<void>;
}

const subjectOf = (raw: string) => (/^Subject:\s*(.*(?:\r?\n[ \t].*)*)/im.exec(raw)?.[1] ?? '').replace(/\r?\n[ \t]/g, ' ').trim();

export async function startBenchMail(): Promise<BenchMail> {
  const unread = new Map<string, BenchReceived[]>();
  const waiters = new Map<string, Array<() => void>>();
  const keep = (mail: BenchReceived) => {
    for (const address of mail.to) {
      unread.set(address, [...(unread.get(address) ?? []), mail]);
      for (const wake of waiters.get(address) ?? []) wake();
      waiters.delete(address);
    }
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    // smtp-server looks up each client's address in DNS by default: a query that leaves the machine.
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const receivedAt = performance.now();
        if (to.every((address) => address.endsWith(`@${SLOW_DOMAIN}`))) {
          setTimeout(callback, SLOW_SMTP_MS);
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        keep({ to, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', subject: subjectOf(raw), raw, receivedAt });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  const gateway = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { to, text } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { to: string; text: string };
      keep({ to: [to], from: '', subject: '', raw: text, receivedAt: performance.now() });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${port}`,
    smsUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/sms`,
    async next(to, timeoutMs = 10_000) {
      const address = to.toLowerCase();
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const queue = unread.get(address);
        const mail = queue?.shift();
        if (queue?.length === 0) unread.delete(address);
        if (mail) return mail;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no mail for ${to} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.set(address, [...(waiters.get(address) ?? []), () => (clearTimeout(timer), resolve())]);
        });
      }
    },
    close: async () => {
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
