// Starts a real Sesame on an ephemeral port with a real SMTP sink and a fresh database.
import type { Logger } from '../../src/log.js';
import { startSesame, type RunningSesame } from '../../src/server.js';
import { createTestDatabase, type Engine, type TestDatabase } from './databases.js';
import { startMailSink, type MailSink } from './smtp.js';
import { testCertificates } from './tls.js';
import { freePort } from './net.js';

export interface TestSesame {
  url: string;
  issuer: string;
  mail: MailSink;
  database: TestDatabase;
  sesame: RunningSesame;
  stop(): Promise<void>;
}

export interface TestSesameOptions {
  /**
   * Serve HTTPS with the run's test certificate (trusted by every test process through
   * NODE_EXTRA_CA_CERTS, see test/global-setup.ts). The default issuer is then https://localhost:<port>.
   */
  tls?: boolean;
  /** Issuer to use (wins over `issuer` in `config`); by default one made from the bound port. */
  issuer?: string;
  /** A logger to read what was logged (see logs.ts); by default TEST_LOG_LEVEL or silent. */
  logger?: Logger;
}

/** `config` is this test file's own configuration fixture (clients, policies...). */
export async function startTestSesame(engine: Engine, config: Record<string, unknown> = {}, options: TestSesameOptions = {}): Promise<TestSesame> {
  const certs = options.tls ? testCertificates() : undefined;
  const tls = certs && { certFile: certs.certFile, keyFile: certs.keyFile };
  const mail = await startMailSink();
  const database = await createTestDatabase(engine);
  const sesame = await startSesame({
    env: { NODE_ENV: 'test' },
    issuerFromPort: true,
    logger: options.logger,
    overrides: {
      port: 0,
      host: '127.0.0.1',
      logLevel: process.env.TEST_LOG_LEVEL ?? 'silent',
      databaseUrl: database.url,
      smtpUrl: mail.url,
      emailFrom: 'Sesame Test <login@sesame.test>',
      delivery: { pollInterval: 200 },
      ...(tls && { tls }),
      ...config,
      ...(options.issuer && { issuer: options.issuer }),
    },
  });
  return {
    url: sesame.url,
    issuer: sesame.services.config.issuer,
    mail,
    database,
    sesame,
    async stop() {
      await sesame.stop();
      await mail.close();
      await database.drop();
    },
  };
}

/**
 * A Sesame whose issuer, and the address tests use (`url`), is http://localhost:<port>: passkeys
 * need it (WebAuthn refuses an IP address as relying party id, PROTOCOLS-NEXT B.4).
 */
export async function startTestSesameOnLocalhost(engine: Engine, config: Record<string, unknown> = {}): Promise<TestSesame> {
  const port = await freePort();
  const t = await startTestSesame(engine, { ...config, port }, { issuer: `http://localhost:${port}` });
  return { ...t, url: t.issuer };
}
