// Tests reach loopback only (test/helpers/block-network.mjs, loaded by vitest's setupFiles and by
// every Node child through NODE_OPTIONS): a connection or lookup elsewhere fails with a clear error.
import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BLOCKED = /^outbound network blocked in tests: (connection to|DNS lookup of) \S+ \(only loopback is allowed/;

/** The message fetch's failure carries (undici wraps the socket's error in `cause`). */
const fetchFailure = (url: string) =>
  fetch(url).then(
    () => 'connected',
    (err: Error & { cause?: Error }) => err.cause?.message ?? err.message,
  );

describe('outbound network in tests', () => {
  it('refuses fetch to a name and to an address outside this host', async () => {
    expect(await fetchFailure('http://example.com/')).toMatch(BLOCKED);
    expect(await fetchFailure('http://93.184.216.34/')).toMatch(BLOCKED);
  });

  it('refuses a raw TCP connection and a DNS lookup', async () => {
    const socketError = await new Promise<Error>((resolve) => connect(80, '93.184.216.34').once('error', resolve));
    expect(socketError.message).toMatch(BLOCKED);
    await expect(lookup('example.com')).rejects.toThrow(BLOCKED);
  });

  it('still reaches loopback, by address and by name', async () => {
    const server = createServer((_req, res) => res.end('here'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('here');
      expect(await (await fetch(`http://localhost:${port}/`)).text()).toBe('here');
    } finally {
      server.close();
    }
  });

  it('refuses it in a Node child process too', async () => {
    const probe = 'fetch("http://93.184.216.34/").then(() => console.log("connected"), (e) => console.log(e.cause?.message ?? e.message))';
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', probe], { env: process.env });
    expect(stdout.trim()).toMatch(BLOCKED);
  });
});
