// An internet-facing server: HSTS when the issuer is https, and socket limits so that a client
// cannot hold connections open by trickling a body (Node's defaults allow minutes) or open more
// than the configured number of them.
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { requestFrom } from '../helpers/from-address.js';

interface Outcome {
  received: string;
  /** Milliseconds from the end of the headers to the server closing the connection. */
  ms: number;
}

/** Sends the headers of a large POST, then one byte of body every 100 ms until the server hangs up. */
function trickle(url: string): Promise<Outcome> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may reset while we write; what it answered is still in `received`.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ received, ms: performance.now() - started });
    });
    socket.on('connect', () => {
      socket.write(`POST /passwordless/start HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`);
      started = performance.now();
      timer = setInterval(() => socket.writable && socket.write(' '), 100);
    });
  });
}

/** A keep-alive connection with one request answered, so the server has surely accepted it. */
function openConnection(url: string): Promise<{ socket: Socket; answer: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('error', reject);
    socket.on('close', () => resolve({ socket, answer }));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.includes('\r\n\r\n') && answer.endsWith('}')) resolve({ socket, answer });
    });
    socket.on('connect', () => socket.write(`GET /healthz HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: keep-alive\r\n\r\n`));
  });
}

describe('HSTS', () => {
  let https: TestSesame;
  let http: TestSesame;
  beforeAll(async () => {
    [https, http] = await Promise.all([startTestSesame('sqlite', {}, { tls: true }), startTestSesame('sqlite', {})]);
  });
  afterAll(async () => {
    await Promise.all([https?.stop(), http?.stop()]);
  });

  it("is sent when the issuer is https, on our routes and the provider's", async () => {
    expect(https.issuer).toMatch(/^https:/);
    for (const path of ['/healthz', '/.well-known/openid-configuration', '/no-such-page']) {
      const res = await fetch(`${https.url}${path}`);
      await res.arrayBuffer();
      expect([path, res.headers.get('strict-transport-security')]).toEqual([path, 'max-age=31536000']);
    }
  });

  it('is not sent when the issuer is http', async () => {
    const res = await requestFrom(`${http.url}/healthz`);
    expect([res.status, res.headers['strict-transport-security']]).toEqual([200, undefined]);
  });
});

describe('origin', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', {});
  });
  afterAll(() => t?.stop());

  it("is the issuer's, whatever Host and X-Forwarded-* headers a client sends", async () => {
    const forged = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' };
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      get(`${t.url}/.well-known/openid-configuration`, { headers: forged }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      }).on('error', reject);
    });
    const urls = Object.values(JSON.parse(body) as Record<string, unknown>).filter((v): v is string => typeof v === 'string' && /^https?:/.test(v));
    expect(status).toBe(200);
    expect(urls.length).toBeGreaterThan(5);
    expect(urls.filter((url) => !url.startsWith(`${t.issuer}/`) && url !== t.issuer)).toEqual([]);
  });
});

describe('socket limits', () => {
  let t: TestSesame;
  let capped: TestSesame;
  beforeAll(async () => {
    [t, capped] = await Promise.all([startTestSesame('sqlite', { http: { headersTimeout: 2, requestTimeout: 2 } }), startTestSesame('sqlite', { http: { maxConnections: 2 } })]);
  });
  afterAll(async () => {
    await Promise.all([t?.stop(), capped?.stop()]);
  });

  it('cuts off a client trickling its body after http.requestTimeout', async () => {
    const outcome = await trickle(t.url);
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // Two seconds from the start of the request (a little less counted from the end of its headers),
    // checked every half second; far from Node's default of five minutes.
    expect(outcome.ms).toBeGreaterThan(1500);
    expect(outcome.ms).toBeLessThan(6000);
  });

  it('closes connections beyond http.maxConnections at once', async () => {
    const open = [await openConnection(capped.url), await openConnection(capped.url)];
    try {
      expect(open.map((o) => o.answer.split('\r\n')[0])).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      const refused = await openConnection(capped.url);
      expect(refused.answer).toBe('');
      expect(refused.socket.destroyed).toBe(true);
    } finally {
      for (const o of open) o.socket.destroy();
    }
  });
});
