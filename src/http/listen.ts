// The listening socket: plain HTTP, or HTTPS when `tls` is configured (usually TLS ends at a proxy),
// with the time limits and connection cap of an internet-facing server (Node's defaults let a
// client hold a connection for minutes by trickling a body).
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, type LoadedConfig } from '../config/load.js';

/** Creates the server, reading the certificate files now: a bad one fails the start with its setting's name. */
export function createServer(config: LoadedConfig): Server {
  const server = createTlsOrPlainServer(config, socketLimits(config));
  server.maxConnections = config.http.maxConnections;
  return server;
}

function socketLimits(config: LoadedConfig): ServerOptions {
  const { headersTimeout, requestTimeout } = config.http;
  return {
    headersTimeout: headersTimeout * 1000,
    requestTimeout: requestTimeout * 1000,
    // Node enforces both timeouts only when it checks its connections (every 30 s by default), so
    // a 10 s limit could take 40 s; check every second (a quarter of the limit when that is shorter).
    connectionsCheckingInterval: Math.min(1000, (headersTimeout * 1000) / 4),
  };
}

function createTlsOrPlainServer(config: LoadedConfig, limits: ServerOptions): Server {
  if (!config.tls) return createHttpServer(limits);
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
    return createHttpsServer({ ...limits, cert, key });
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
