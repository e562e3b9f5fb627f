// HTTP requests from a chosen local address: Linux routes all of 127.0.0.0/8 to lo, so binding the
// client socket to 127.1.0.5 or 127.2.0.5 makes requests come from different client IPs (and /24
// networks) without any proxy header.
import { request } from 'node:http';

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
