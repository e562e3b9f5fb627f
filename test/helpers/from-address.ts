// HTTP requests sent from a chosen loopback address, so tests can play several requesters (Linux
// routes all of 127.0.0.0/8 to lo) without any proxy header: 127.1.0.x and 127.2.0.x are different
// /24 networks. fetch cannot bind its socket; node:http can (`localAddress`).
import { request } from 'node:http';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Sends `body` as JSON (when given) from `localAddress` and reads the whole answer. */
export function requestFrom(localAddress: string, url: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
  const headers = { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? (payload ? 'POST' : 'GET'), headers, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}
