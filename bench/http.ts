// The bench's HTTP client for the sign-in loops: node:http over kept-alive connections. A sign-in is
// nine requests, and through fetch (undici, WHATWG streams) the bench process spent about half as
// much CPU per sign-in as the server it measured, on the same two cores; node:http costs less.
import { Agent, request } from 'node:http';
import type { Fetcher } from '../test/helpers/form-client.js';

// As many sockets as sign-ins in flight (CODE_FLOW_CONCURRENCY) and more: a request never waits for one.
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Answer {
  status: number;
  ok: boolean;
  headers: Headers;
  text(): Promise<string>;
}

type Init = { method?: string; headers?: Record<string, string>; body?: string };

/** One request, redirects not followed; the whole body read before it resolves. */
export async function httpFetch(url: string | URL, init: Init = {}): Promise<Answer> {
  try {
    return await send(url, init);
  } catch (err) {
    // A kept-alive connection the server closed as the request left on it (its keep-alive timeout):
    // the server read nothing of it, so it is sent again on a new one, as fetch does.
    if ((err as { reused?: boolean }).reused) return send(url, init);
    throw err;
  }
}

function send(url: string | URL, init: Init): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = init.body;
    const headers = { ...init.headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) };
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const answer = new Headers();
        const raw = res.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) answer.append(raw[i]!, raw[i + 1]!);
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, headers: answer, text: async () => text });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { reused: req.reusedSocket && err.code === 'ECONNRESET' })));
    req.end(body);
  });
}

/** httpFetch as a FormClient's fetcher. */
export const formFetcher: Fetcher = (url, init) => httpFetch(url, init);
