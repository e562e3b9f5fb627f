// Starts and stops a Sesame instance: database, migrations, keys, provider, worker, HTTP server.
import { createHmac } from 'node:crypto';
import type { RequestListener, Server } from 'node:http';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { connectionById } from './config/connections.js';
import { createLogger, type Logger } from './log.js';
import { openDb, type Db } from './storage/db.js';
import { migrate } from './storage/migrate.js';
import { ensureSecretList } from './storage/secrets.js';
import { ensureSigningKeys, loadSigningJwks } from './storage/signing-keys.js';
import { sweepExpired } from './storage/sweep.js';
import { createRenderer } from './http/render.js';
import { createApp } from './app.js';
import { createServer, listen } from './http/listen.js';
import { answerWhileStarting } from './http/health.js';
import { createProvider } from './oidc/provider.js';
import { providerPages } from './http/provider-pages.js';
import { unnamedClientWarnings } from './oidc/client-metadata.js';
import { DeliveryWorker, type Channel } from './delivery/worker.js';
import { captureChannel, smtpChannel } from './delivery/channels.js';
import { webhookChannel } from './delivery/webhook.js';
import { smsChannel, textAccountsOnly } from './delivery/sms.js';
import type { Services } from './services.js';

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Config values that win over file and environment (tests, CLI flags). */
  overrides?: Record<string, unknown>;
  /**
   * Use http://127.0.0.1:<bound port> (https://localhost:<bound port> with `tls`, matching the
   * certificate's name) as the issuer unless one is given (tests on an ephemeral port).
   */
  issuerFromPort?: boolean;
  logger?: Logger;
  /**
   * Open the port only once ready (a cluster worker: its siblings serve meanwhile, and the primary
   * has migrated already). Otherwise the port opens at once and requests get 503 until ready.
   */
  listenWhenReady?: boolean;
}

export interface RunningSesame {
  url: string;
  /** The listening server (tests hand it connections of their own). */
  server: Server;
  services: Services;
  worker: DeliveryWorker;
  stop(): Promise<void>;
}

/** Opens the database, applies migrations and ensures keys and secrets: what every command needs. */
export async function prepare(config: LoadedConfig, log: Logger) {
  const db = openDb(config.databaseUrl);
  const { applied } = await migrate(config.databaseUrl, (msg) => log.info(msg));
  if (applied.length) log.info({ applied }, 'migrations applied');
  await ensureSigningKeys(db);
  const cookieKeys = config.secrets.cookieKeys ? [...config.secrets.cookieKeys] : await ensureSecretList(db, 'cookie-keys');
  const codeKeys = config.secrets.codeKeys ? [...config.secrets.codeKeys] : await ensureSecretList(db, 'code-keys');
  return { db, cookieKeys, codeKeys };
}

/** Routes each message to its channel: mail through SMTP (or captured), webhooks to their connection's URL, texts to their connection's provider (with sign-up closed, only numbers of accounts). */
export function deliveryChannel(config: LoadedConfig, db: Db): Channel & { close?(): void } {
  const email = config.smtpUrl ? smtpChannel(config.smtpUrl, config.emailFrom) : captureChannel;
  const webhook = webhookChannel((id) => {
    const connection = connectionById(config, id);
    return connection?.type === 'email' ? connection.delivery : undefined;
  });
  const sms = config.signUp === 'open' ? smsChannel(config) : textAccountsOnly(smsChannel(config), db);
  return {
    send: (message) => (message.channel === 'sms' ? sms : message.channel === 'webhook' ? webhook : email).send(message),
    close: () => (email as { close?(): void }).close?.(),
  };
}

export async function startSesame(options: StartOptions = {}): Promise<RunningSesame> {
  let config = loadConfig(options.env ?? process.env, options.overrides);
  const server = createServer(config);
  // Requests that arrive before the app exists are answered at once, never left without a handler.
  let handle: RequestListener = answerWhileStarting;
  server.on('request', (req, res) => handle(req, res));
  let port = options.listenWhenReady ? config.port : await listen(server, config.port, config.host);
  // With TLS, the name the test certificate is issued to; 127.0.0.1 otherwise.
  const origin = config.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  if (options.issuerFromPort && !options.overrides?.issuer) config = loadConfig(options.env ?? process.env, { ...options.overrides, issuer: origin });
  const log = options.logger ?? createLogger(config.logLevel);
  let opened: Db | undefined;
  try {
    const prepared = await prepare(config, log);
    const db = (opened = prepared.db);
    const onUnnamedClient = unnamedClientWarnings(log, config.clients);
    const renderer = createRenderer({ productName: config.ui.productName, cache: config.production, onUnnamedClient });
    const pages = providerPages(renderer, config.ui.defaultLocale, config.issuer);
    const jwks = await loadSigningJwks(db);
    const channel = deliveryChannel(config, db);
    const worker = new DeliveryWorker(db, channel, config.delivery, log.child({ component: 'delivery' }));
    const wakeWorker = () => worker.wake();
    const buildProvider = (keys: typeof jwks) =>
      createProvider({ config, db, log, renderer, pages, jwks: keys, cookieKeys: prepared.cookieKeys, codeKeys: prepared.codeKeys, wakeWorker });
    const provider = buildProvider(jwks);
    const services: Services = {
      config,
      db,
      log,
      renderer,
      provider,
      codeKeys: prepared.codeKeys,
      cookieKeys: prepared.cookieKeys,
      csrfKey: createHmac('sha256', prepared.cookieKeys[0]!).update('csrf').digest('base64url'),
      wakeWorker,
    };
    const callback = createApp(services).callback();
    // Koa's callback answers its own errors (ctx.onerror); its promise only says when the response is done.
    handle = (req, res) => void callback(req, res);
    if (options.listenWhenReady) port = await listen(server, config.port, config.host);
    worker.start();
    const sweeper = setInterval(() => {
      sweepExpired(services.db, { auditRetention: config.audit.retention })
        .then((swept) => log.debug({ swept }, 'expired rows swept'))
        .catch((err: unknown) => log.warn({ err }, 'sweep failed'));
    }, config.sweepInterval * 1000);
    sweeper.unref();
    // Keys rotated by `sesame keys rotate` (on any instance) are picked up here without a restart.
    let keyIds = jwks.map((k) => k.kid).join(',');
    const keyWatch = setInterval(() => {
      loadSigningJwks(services.db)
        .then((current) => {
          const ids = current.map((k) => k.kid).join(',');
          if (ids === keyIds) return;
          services.provider = buildProvider(current);
          keyIds = ids;
          log.info({ kids: current.map((k) => k.kid) }, 'signing keys changed; provider reloaded');
        })
        .catch((err: unknown) => log.warn({ err }, 'signing key check failed'));
    }, config.keyCheckInterval * 1000);
    keyWatch.unref();
    log.info({ issuer: config.issuer, port, database: db.provider }, 'sesame listening');
    if (config.devOutbox) {
      log.warn(
        { path: '/dev/outbox' },
        'dev outbox on: no message is delivered; each is kept with its code and shown at /dev/outbox to requesters on this machine. Set smtpUrl (or devOutbox: false) for real use',
      );
    }
    return {
      url: origin,
      server,
      services,
      worker,
      async stop() {
        clearInterval(sweeper);
        clearInterval(keyWatch);
        // Stop accepting, let requests in flight finish, then stop the worker and the database.
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await worker.stop();
        channel.close?.();
        await db.close();
        log.info('sesame stopped');
      },
    };
  } catch (err) {
    server.close();
    await opened?.close();
    throw err;
  }
}
