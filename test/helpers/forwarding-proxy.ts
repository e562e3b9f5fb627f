// An ordinary reverse proxy as deployed in front of Sesame (nginx's $proxy_add_x_forwarded_for):
// it appends the address of the peer it saw to whatever X-Forwarded-For the client sent. Chain
// two for two hops.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ForwardingProxy {
  url: string;
  close(): Promise<void>;
}

function appendedForwardedFor(req: IncomingMessage): string {
  const sent = req.headers['x-forwarded-for'];
  const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  return sent ? `${String(sent)}, ${peer}` : peer;
}

/** A proxy to `target` on 127.0.0.1; it connects to the target from `from` (a loopback address). */
export async function startForwardingProxy(target: string, from = '127.0.0.1'): Promise<ForwardingProxy> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const headers = { ...req.headers, 'x-forwarded-for': appendedForwardedFor(req) };
    const forwarded = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, localAddress: from, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.writeHead(502).end());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
