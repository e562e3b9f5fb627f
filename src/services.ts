// What request handlers get: configuration, storage, rendering, the provider and a worker nudge.
import type Provider from 'oidc-provider';
import type { LoadedConfig } from './config/load.js';
import type { Renderer } from './http/render.js';
import type { Logger } from './log.js';
import type { Db } from './storage/db.js';
import type { Keyring } from './passwordless/keyring.js';

export interface Services {
  config: LoadedConfig;
  db: Db;
  log: Logger;
  renderer: Renderer;
  provider: Provider;
  /** The code keys: MACs of codes, links, login tickets and sealed state. */
  keyring: Keyring;
  /** Cookie signing keys, newest first (shared with the mounted provider). */
  cookieKeys: string[];
  /** Key for CSRF tokens of our forms. */
  csrfKey: string;
  /**
   * This server over loopback, http://127.0.0.1:<bound port> (https://localhost:<port> with `tls`),
   * for routes that call Sesame's own endpoints (the Userfront API uses the token endpoint).
   */
  internalUrl: string;
  /** Asks the in-process delivery worker to look at the outbox now. */
  wakeWorker(): void;
}
