// A fetch that sends from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo), so a
// test can be several requesters on several networks (127.1.0.x and 127.2.0.x are different /24s)
// without any proxy header. Only what the tests use: method, headers, a string body, manual redirects.
import { request } from 'node:http';

export function fetchFrom(localAddress: string): typeof fetch {
  return async function fetchFromAddress(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const body = typeof init.body === 'string' ? init.body : init.body instanceof URLSearchParams ? init.body.toString() : undefined;
    if (init.body instanceof URLSearchParams && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        url,
        { method: init.method ?? 'GET', headers: Object.fromEntries(headers), localAddress },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const out = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              for (const v of Array.isArray(value) ? value : [value ?? '']) out.append(name, v);
            }
            const status = res.statusCode!;
            const text = Buffer.concat(chunks);
            resolve(new Response([101, 204, 205, 304].includes(status) ? null : text, { status, headers: out }));
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  } as typeof fetch;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Sends `body` as JSON (when given) from `localAddress` and reads the whole answer. */
export async function requestFrom(localAddress: string, url: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  const headers = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers };
  const res = await fetchFrom(localAddress)(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
  return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
}
