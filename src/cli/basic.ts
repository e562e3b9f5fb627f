// `sesame serve`, `sesame migrate`, `sesame worker` and `sesame users` (list, set-name, link, passkeys).
import cluster from 'node:cluster';
import { loadConfig } from '../config/load.js';
import { runPrimary, workerCount } from '../cluster.js';
import { createLogger } from '../log.js';
import { deliveryChannel, prepare, startSesame } from '../server.js';
import { migrate } from '../storage/migrate.js';
import { DeliveryWorker } from '../delivery/worker.js';
import { OutboxWake } from '../delivery/wake.js';
import { linkExternalIdentity } from '../storage/external.js';
import { findUserByEmail, listUsers, setName } from '../storage/users.js';
import { normalizeEmail } from '../passwordless/identifiers.js';
import { MAX_NAME_LENGTH, parseName } from '../passwordless/names.js';
import { type Command, UsageError, output, withDb } from './common.js';
import { USER_PASSKEYS_HELP, userPasskeys } from './user-passkeys.js';
import { USER_MFA_HELP, userMfa } from './user-mfa.js';
import { USER_ADMIN_HELP, userAdmin } from './user-admin.js';
import { USER_ACCOUNT_HELP, isUserAccountAction, userAccount } from './user-account.js';

function onShutdown(stop: () => Promise<void>) {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

export const serveCommand: Command = {
  summary:
    'Run the identity provider (migrates the database and delivers mail in-process).\n' + '  --workers <n|auto>  processes on the one port (node:cluster); auto = one per core',
  usage: '[--port <port>] [--workers <n|auto>]',
  options: { port: { type: 'string' }, workers: { type: 'string' } },
  async run({ values }) {
    const overrides: Record<string, unknown> = {};
    if (values.port !== undefined) {
      overrides.port = Number(values.port);
      if (!Number.isInteger(overrides.port)) throw new UsageError('serve: --port must be a number');
    }
    if (values.workers !== undefined) {
      overrides.workers = values.workers === 'auto' ? 'auto' : Number(values.workers);
      if (overrides.workers !== 'auto' && !(Number.isInteger(overrides.workers) && (overrides.workers as number) >= 1)) {
        throw new UsageError('serve: --workers must be a whole number of at least 1, or auto');
      }
    }
    const config = loadConfig(process.env, overrides);
    const count = workerCount(config.workers);
    if (count > 1 && cluster.isPrimary) {
      await runPrimary(config, count, createLogger(config.logLevel, { role: 'primary' }));
      return;
    }
    const logger = cluster.isWorker ? createLogger(config.logLevel, { worker: cluster.worker!.id }) : undefined;
    // A worker joins the shared port only when ready, so its siblings keep serving while it starts.
    const running = await startSesame({ overrides, logger, listenWhenReady: cluster.isWorker });
    onShutdown(running.stop);
  },
};

export const migrateCommand: Command = {
  summary: 'Apply pending database migrations (serve does this on start too).',
  usage: '[--json]',
  options: { json: { type: 'boolean' } },
  async run({ values }) {
    const config = loadConfig();
    const { applied } = await migrate(config.databaseUrl);
    output(values.json === true, { applied }, applied.length ? applied.map((m) => `applied ${m}`) : ['database is up to date']);
  },
};

export const workerCommand: Command = {
  summary: 'Run only the delivery worker (for deployments that scale it apart from serve).',
  usage: '',
  options: {},
  async run() {
    const config = loadConfig();
    const log = createLogger(config.logLevel, { component: 'worker' });
    const { db } = await prepare(config, log);
    const channel = deliveryChannel(config, db);
    const worker = new DeliveryWorker(db, channel, config.delivery, log);
    // On PostgreSQL, woken by the instances that queue messages (NOTIFY); on SQLite, only its poll.
    const wake = new OutboxWake(log);
    wake.subscribe(() => worker.wake());
    worker.start();
    wake.listen(config.databaseUrl, db.provider);
    log.info('delivery worker running');
    onShutdown(async () => {
      await wake.close();
      await worker.stop();
      channel.close?.();
      await db.close();
    });
    // The worker's timers are unref'd so tests can stop it; keep this process alive ourselves.
    setInterval(() => undefined, 1 << 30);
  },
};

export const usersCommand: Command = {
  summary:
    "List users; name one; link an external identity to an account; list or remove an account's passkeys; list or reset its second factors; block, unblock, export or erase one.\n" +
    '  list      users, newest first\n' +
    `  set-name  <userId|email> <name>   the name (the profile scope's \`name\` claim; 1 to ${MAX_NAME_LENGTH} characters)\n` +
    '  link    <userId> --connection <id> --subject <sub>   the external identity signs in as <userId> from\n' +
    '          now on (e.g. the account that proved the email its assertion claimed); its former account stays\n' +
    USER_PASSKEYS_HELP.join('\n') +
    '\n' +
    USER_MFA_HELP.join('\n') +
    '\n' +
    USER_ADMIN_HELP.join('\n') +
    '\n' +
    USER_ACCOUNT_HELP.join('\n'),
  usage:
    'list [--json] | set-name <userId|email> <name> [--json] | link <userId> --connection <id> --subject <sub> [--json]\n' +
    '       | passkeys <userId|email|phone> [--remove <id> | --remove-all] [--json]\n' +
    '       | mfa <userId|email|phone> [--reset] [--json]\n' +
    '       | grant-admin <userId|email|phone> [--json] | revoke-admin <userId|email|phone> [--json]\n' +
    '       | block|unblock|export <userId|email|phone> [--json] | delete <userId|email|phone> --yes [--json]',
  options: {
    json: { type: 'boolean' },
    connection: { type: 'string' },
    subject: { type: 'string' },
    remove: { type: 'string' },
    'remove-all': { type: 'boolean' },
    reset: { type: 'boolean' },
    yes: { type: 'boolean' },
  },
  async run({ values, positionals }) {
    if (positionals[0] === 'link') return linkUser(values, positionals[1]);
    if (positionals[0] === 'passkeys') return userPasskeys(values, positionals.slice(1));
    if (positionals[0] === 'mfa') return userMfa(values, positionals.slice(1));
    if (positionals[0] === 'grant-admin' || positionals[0] === 'revoke-admin') return userAdmin(values, positionals.slice(1), positionals[0] === 'grant-admin');
    if (positionals[0] === 'set-name') return setUserName(values, positionals.slice(1));
    if (isUserAccountAction(positionals[0])) return userAccount(positionals[0], values, positionals.slice(1));
    if (positionals[0] !== 'list') throw new UsageError('users: expected list, set-name, link, passkeys, mfa, grant-admin, revoke-admin, block, unblock, export or delete');
    const users = await withDb((db) => listUsers(db));
    output(values.json === true, { users }, users.length ? users.map((u) => `${u.id}\t${u.email ?? ''}\t${u.emailVerified ? 'verified' : ''}`) : ['no users']);
  },
};

/** `sesame users set-name`: the operator's way to give an account the name its tokens carry. */
async function setUserName(values: Record<string, unknown>, args: string[]): Promise<void> {
  if (args.length !== 2) throw new UsageError('users set-name: expected <userId|email> <name> (quote a name with spaces)');
  const name = parseName(args[1]);
  if (!name) throw new UsageError(`users set-name: the name must be 1 to ${MAX_NAME_LENGTH} characters, without control characters or line breaks`);
  const who = args[0]!;
  const email = who.includes('@') ? normalizeEmail(who) : undefined;
  const userId = await withDb(async (db) => {
    const id = email ? (await findUserByEmail(db, email))?.id : who;
    return id && (await setName(db, id, name)) ? id : null;
  });
  if (!userId) throw new UsageError(`users set-name: no user "${who}"`);
  output(values.json === true, { userId, name }, [`${userId} is now named ${JSON.stringify(name)}`]);
}

/** `sesame users link`: asserted emails are never trusted on their own, so joining accounts is the operator's call. */
async function linkUser(values: Record<string, unknown>, userId: string | undefined): Promise<void> {
  const { connection, subject } = values as { connection?: string; subject?: string };
  if (!userId || !connection || !subject) throw new UsageError('users link: expected <userId> --connection <id> --subject <sub>');
  const result = await withDb((db) => linkExternalIdentity(db, connection, subject, userId));
  if (result === 'unknown_identity') throw new UsageError(`users link: no identity "${subject}" of connection "${connection}" has signed in`);
  if (result === 'unknown_user') throw new UsageError(`users link: no user "${userId}"`);
  output(values.json === true, { connection, subject, userId, previousUserId: result.previousUserId }, [
    `${connection}:${subject} now signs in as ${userId} (was ${result.previousUserId})`,
  ]);
}
