// A TCP proxy in front of a real server (PostgreSQL), for tests that cut the network under a running
// Sesame: `cut()` resets every open connection and stops listening (new connections are refused, as
// with a database that is down), `restore()` listens again on the same port. `hold()` accepts but
// forwards nothing until `release()`, like a database that is still starting.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from './net.js';

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1), the same across cut() and restore(). */
  port: number;
  /** `url` with its host and port replaced by the proxy's (credentials, path and query kept). */
  rewrite(url: string): string;
  /** Resets (RST) all open connections and refuses new ones until restore(). */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  /** New connections are accepted but not forwarded (their bytes wait) until release(). */
  hold(): void;
  /** Forwards the held connections and every new one. */
  release(): void;
  /** Connections waiting in hold() right now. */
  held(): number;
  /** Connections accepted so far (each is piped to one upstream connection). */
  accepted(): number;
  /** Connections open right now. */
  open(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }, port?: number): Promise<TcpProxy> {
  const listenPort = port ?? (await freePort());
  const sockets = new Set<Socket>();
  let accepted = 0;
  let server: Server | undefined;
  let holding = false;
  const waiting: Socket[] = [];

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A peer's reset is expected here (that is the point); never let it become an uncaught error.
    socket.on('error', () => {});
  };

  const onConnection = (client: Socket) => {
    accepted++;
    track(client);
    client.pause();
    if (holding) waiting.push(client);
    else forward(client);
  };

  const forward = (client: Socket) => {
    if (client.destroyed) return;
    const upstream = connect({ host: target.host, port: target.port });
    track(upstream);
    upstream.once('connect', () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    // Either side going away takes the other with it (reset, so the peer sees what a dead server gives).
    client.once('close', () => (upstream.destroyed ? undefined : upstream.resetAndDestroy()));
    upstream.once('close', () => (client.destroyed ? undefined : client.resetAndDestroy()));
  };

  const listen = async () => {
    const s = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(listenPort, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    server = s;
  };

  const stopListening = async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  const resetAll = () => {
    for (const socket of sockets) socket.resetAndDestroy();
  };

  await listen();
  return {
    port: listenPort,
    rewrite(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(listenPort);
      return u.toString();
    },
    async cut() {
      // Stop accepting first, so nothing reconnects between the reset and the close.
      const closing = stopListening();
      resetAll();
      await closing;
    },
    async restore() {
      if (!server) await listen();
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const client of waiting.splice(0)) forward(client);
    },
    held: () => waiting.length,
    accepted: () => accepted,
    open: () => sockets.size,
    async close() {
      const closing = stopListening();
      resetAll();
      await closing;
    },
  };
}
