// Starts and stops a Sesame instance: database, migrations, keys, provider, worker, HTTP server.
import { createHmac } from 'node:crypto';
import type { RequestListener, Server } from 'node:http';
import { loadConfig, type LoadedConfig } from './config/load.js';
import { connectionById } from './config/connections.js';
import { createLogger, type Logger } from './log.js';
import { openDb, type Db } from './storage/db.js';
import { migrate } from './storage/migrate.js';
import { ensureSecretList } from './storage/secrets.js';
import { keyring } from './passwordless/keyring.js';
import { ensureSigningKeys, loadSigningJwks } from './storage/signing-keys.js';
import { sweepExpired } from './storage/sweep.js';
import { createRenderer } from './http/render.js';
import { createApp } from './app.js';
import { createServer, listen } from './http/listen.js';
import { answerWhileStarting } from './http/health.js';
import { createProvider } from './oidc/provider.js';
import { providerPages } from './http/provider-pages.js';
import { clientBrand, metadataOf, unnamedClientWarnings } from './oidc/client-metadata.js';
import { DeliveryWorker, type Channel } from './delivery/worker.js';
import { OutboxWake } from './delivery/wake.js';
import { captureChannel, smtpChannel } from './delivery/channels.js';
import { webhookChannel } from './delivery/webhook.js';
import { REVIEW_WEBHOOK } from './passwordless/sign-in-risk.js';
import { smsChannel, textAccountsOnly } from './delivery/sms.js';
import type { Services } from './services.js';
import { maySignUp } from './passwordless/sign-up.js';
import { warmIpData } from './passwordless/action-places.js';
import { startMetrics } from './http/metrics.js';

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
  /** What enqueue sites notify after commit: this worker, and on PostgreSQL the other instances'. */
  outboxWake: OutboxWake;
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
  const mfaKeys = config.secrets.mfaKeys ? [...config.secrets.mfaKeys] : await ensureSecretList(db, 'mfa-keys');
  return { db, cookieKeys, keyring: keyring(codeKeys), mfaKeyring: keyring(mfaKeys) };
}

/** Routes each message to its channel: mail through SMTP (or captured), webhooks to their connection's URL, texts to their connection's provider (with sign-up closed, only numbers of accounts). */
export function deliveryChannel(config: LoadedConfig, db: Db): Channel & { close?(): void } {
  const email = config.smtpUrl ? smtpChannel(config.smtpUrl, config.emailFrom) : captureChannel;
  const webhook = webhookChannel((id) => {
    if (id === REVIEW_WEBHOOK) return config.actions.reviewWebhook && { type: 'webhook', ...config.actions.reviewWebhook };
    const connection = connectionById(config, id);
    return connection?.type === 'email' ? connection.delivery : undefined;
  });
  const sms = maySignUp(config.signUp) ? smsChannel(config) : textAccountsOnly(smsChannel(config), db);
  return {
    send: (message) => (message.channel === 'sms' ? sms : message.channel === 'webhook' ? webhook : email).send(message),
    close: () => (email as { close?(): void }).close?.(),
  };
}

/** The HTTP server, listening at once unless told to wait; requests that arrive before the app exists are answered (503), never left without a handler. */
async function openServer(options: StartOptions) {
  let config = loadConfig(options.env ?? process.env, options.overrides);
  const server = createServer(config);
  const front: { handle: RequestListener } = { handle: answerWhileStarting };
  server.on('request', (req, res) => front.handle(req, res));
  const port = options.listenWhenReady ? config.port : await listen(server, config.port, config.host);
  // With TLS, the name the test certificate is issued to; 127.0.0.1 otherwise.
  const origin = config.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`;
  if (options.issuerFromPort && !options.overrides?.issuer) config = loadConfig(options.env ?? process.env, { ...options.overrides, issuer: origin });
  return { config, server, front, port, origin };
}

type Prepared = Awaited<ReturnType<typeof prepare>>;
type Jwks = Awaited<ReturnType<typeof loadSigningJwks>>;

/** What requests need, built once from the configuration and the prepared database; the provider is rebuilt on key rotation. */
async function buildServices(config: LoadedConfig, log: Logger, prepared: Prepared) {
  const { db, cookieKeys, keyring, mfaKeyring } = prepared;
  const onUnnamedClient = unnamedClientWarnings(log, config.clients);
  // An email's brand is its client's, looked up in whichever provider is current (rebuilt on key rotation).
  const brandOf = async (clientId: string) => {
    const client = await services.provider.Client.find(clientId).catch(() => undefined);
    return clientBrand(client && metadataOf(client));
  };
  const renderer = createRenderer({ productName: config.ui.productName, cache: config.production, onUnnamedClient, overrides: config.uiOverrides, brandOf });
  const pages = providerPages(renderer, config.ui.defaultLocale, config.issuer);
  const jwks = await loadSigningJwks(db);
  const channel = deliveryChannel(config, db);
  const worker = new DeliveryWorker(db, channel, config.delivery, log.child({ component: 'delivery' }));
  const outboxWake = new OutboxWake(log.child({ component: 'delivery' }));
  outboxWake.subscribe(() => worker.wake());
  const buildProvider = (keys: Jwks) => createProvider({ config, db, log, pages, jwks: keys, cookieKeys, keyring, mfaKeyring });
  const services: Services = {
    config,
    db,
    log,
    renderer,
    provider: buildProvider(jwks),
    keyring,
    mfaKeyring,
    cookieKeys,
    csrfKey: createHmac('sha256', cookieKeys[0]!).update('csrf').digest('base64url'),
    wakeWorker: () => outboxWake.notify(),
  };
  return { services, worker, outboxWake, channel, jwks, buildProvider };
}

/** The periodic jobs: sweeping expired rows, and a new provider when the signing keys change. Returns their stop. */
function startTimers(services: Services, jwks: Jwks, buildProvider: (keys: Jwks) => Services['provider']): () => void {
  const { config, log } = services;
  const sweeper = setInterval(() => {
    sweepExpired(services.db, { auditRetention: config.audit.retention, decisionRetention: config.actions.retentionDays * 86_400 })
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
  return () => {
    clearInterval(sweeper);
    clearInterval(keyWatch);
  };
}

export async function startSesame(options: StartOptions = {}): Promise<RunningSesame> {
  const opened = await openServer(options);
  const { config, server, origin } = opened;
  const log = options.logger ?? createLogger(config.logLevel);
  let db: Db | undefined;
  try {
    const prepared = await prepare(config, log);
    db = prepared.db;
    const { services, worker, outboxWake, channel, jwks, buildProvider } = await buildServices(config, log, prepared);
    const stopMetrics = config.metrics.enabled ? startMetrics(prepared.db) : () => {};
    const callback = createApp(services).callback();
    // Koa's callback answers its own errors (ctx.onerror); its promise only says when the response is done.
    opened.front.handle = (req, res) => void callback(req, res);
    const port = options.listenWhenReady ? await listen(server, config.port, config.host) : opened.port;
    worker.start();
    outboxWake.listen(config.databaseUrl, prepared.db.provider);
    const stopTimers = startTimers(services, jwks, buildProvider);
    void warmIpData(config.actions).catch((err: unknown) => log.warn({ err }, 'IP data for risk rules could not be loaded'));
    log.info({ issuer: config.issuer, port, database: prepared.db.provider }, 'sesame listening');
    if (config.devOutbox) {
      log.warn(
        { path: '/dev/outbox' },
        'dev outbox on: no message is delivered; each is kept with its code and shown at /dev/outbox to requesters on this machine. Set smtpUrl (or devOutbox: false) for real use',
      );
    }
    const stop = async () => {
      stopTimers();
      stopMetrics();
      // Stop accepting, let requests in flight finish, then stop the worker and the database.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await outboxWake.close();
      await worker.stop();
      channel.close?.();
      await prepared.db.close();
      log.info('sesame stopped');
    };
    return { url: origin, server, services, worker, outboxWake, stop };
  } catch (err) {
    server.close();
    await db?.close();
    throw err;
  }
}
