// The listening socket: plain HTTP, or HTTPS when `tls` is configured (usually TLS ends at a proxy).
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, type LoadedConfig } from '../config/load.js';

/** Creates the server, reading the certificate files now: a bad one fails the start with its setting's name. */
export function createServer(config: LoadedConfig): Server {
  if (!config.tls) return createHttpServer();
  const read = (key: 'certFile' | 'keyFile') => {
    const path = config.tls![key];
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`tls.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = read('certFile');
  const key = read('keyFile');
  try {
    return createHttpsServer({ cert, key });
  } catch (err) {
    throw new ConfigError(`tls.certFile/tls.keyFile: unusable certificate or key: ${(err as Error).message}`);
  }
}

/** Listens and resolves with the bound port (the real one when `port` is 0). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}
