// The bench's SMTP server, Sesame's only one during a run (a process has one SMTP_URL). It keeps
// each message until a sign-in or the OTP pool reads its code, except mail to SLOW_DOMAIN: that it
// acknowledges only SLOW_SMTP_MS after the data ends, and drops, so that passwordless_start
// measures Sesame while its mail server is slow. (test/helpers/smtp.ts has no delay, and its sink
// scans every message kept for each read, which thousands of OTP codes make quadratic.)
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { ReceivedMail } from '../test/helpers/smtp.js';

export const SLOW_DOMAIN = 'slow.bench.test';
export const SLOW_SMTP_MS = 500;

/** A message as the bench's server received it; `receivedAt` (performance.now()) once its data ended. */
export type BenchReceived = ReceivedMail & { receivedAt: number };

export interface BenchMail {
  url: string;
  /** Resolves with the next message to `to` not read yet. */
  next(to: string, timeoutMs?: number): Promise<BenchReceived>;
  close(): Promise<void>;
}

const subjectOf = (raw: string) => (/^Subject:\s*(.*(?:\r?\n[ \t].*)*)/im.exec(raw)?.[1] ?? '').replace(/\r?\n[ \t]/g, ' ').trim();

export async function startBenchMail(): Promise<BenchMail> {
  const unread = new Map<string, BenchReceived[]>();
  const waiters = new Map<string, Array<() => void>>();
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
        const mail: BenchReceived = { to, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', subject: subjectOf(raw), raw, receivedAt };
        for (const address of to) {
          unread.set(address, [...(unread.get(address) ?? []), mail]);
          for (const wake of waiters.get(address) ?? []) wake();
          waiters.delete(address);
        }
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
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
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
