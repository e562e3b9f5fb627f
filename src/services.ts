// What request handlers get: configuration, storage, rendering, the provider and a worker nudge.
import type Provider from 'oidc-provider';
import type { LoadedConfig } from './config/load.js';
import type { Renderer } from './http/render.js';
import type { Logger } from './log.js';
import type { Db } from './storage/db.js';

export interface Services {
  config: LoadedConfig;
  db: Db;
  log: Logger;
  renderer: Renderer;
  provider: Provider;
  /** HMAC keys for codes at rest, newest first. */
  codeKeys: string[];
  /** Cookie signing keys, newest first (shared with the mounted provider). */
  cookieKeys: string[];
  /** Key for CSRF tokens of our forms. */
  csrfKey: string;
  /** Asks the in-process delivery worker to look at the outbox now. */
  wakeWorker(): void;
}
