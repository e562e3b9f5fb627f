// A port nobody listens on right now, for tests that must know the port before the server starts.
//
// Why not listen(0) and close: the kernel hands the next listen(0) anywhere on the machine (another
// test worker's mail sink, an outgoing connection) the same ephemeral ports, so the port can be
// taken between our close and the server's listen (EADDRINUSE, seen in CI). Ports here come from
// below the ephemeral range (32768-60999 on Linux), and each test worker counts through its own
// slice of it, so no two callers on the machine are handed the same port.
import { createServer } from 'node:net';

const FIRST = 20_000;
const SLICE = 1_000; // ports per worker; workers 1..12 fit below 32768
const SLICES = 12;

const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) || process.pid;
const sliceStart = FIRST + (worker % SLICES) * SLICE;
let next = Math.floor(Math.random() * SLICE);

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((resolve) => server.close(resolve));
  return ok;
}

export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SLICE; tries++) {
    const port = sliceStart + (next++ % SLICE);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${sliceStart}-${sliceStart + SLICE - 1}`);
}
