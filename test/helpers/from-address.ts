// Requests sent from a chosen loopback address (Linux routes all of 127.0.0.0/8 to lo), so a test
// can be several requesters on several networks (127.1.0.x and 127.2.0.x are different /24s)
// without any proxy header: a fetch for clients that take one (fetchFrom), and plain requests that
// return the status, headers and text (requestFrom, postJson).
import { request } from 'node:http';

export function fetchFrom(localAddress: string): typeof fetch {
  return async function fetchFromAddress(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const body = typeof init.body === 'string' ? init.body : init.body instanceof URLSearchParams ? init.body.toString() : undefined;
    if (init.body instanceof URLSearchParams && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: init.method ?? 'GET', headers: Object.fromEntries(headers), localAddress }, (res) => {
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
      });
      req.on('error', reject);
      req.end(body);
    });
  } as typeof fetch;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Local address to send from; 127.0.0.1 by default. */
  from?: string;
}

export function requestFrom(url: string, options: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: { ...(options.body !== undefined && { 'content-length': String(Buffer.byteLength(options.body)) }), ...options.headers },
        localAddress: options.from,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POSTs `body` as JSON from `from`. */
export function postJson(url: string, body: unknown, options: Omit<RequestOptions, 'body' | 'method'> = {}): Promise<Answer> {
  return requestFrom(url, { ...options, method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...options.headers } });
}
