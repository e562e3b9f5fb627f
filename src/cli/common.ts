// Shared CLI plumbing: argument parsing with --help, one-line failures, JSON output on the last line.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { prepare } from '../server.js';
import type { Db } from '../storage/db.js';
import { loadSigningJwks } from '../storage/signing-keys.js';
import { createRenderer } from '../http/render.js';
import { createProvider } from '../oidc/provider.js';
import { providerPages } from '../http/provider-pages.js';
import type Provider from 'oidc-provider';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  summary: string;
  usage: string;
  options: Options;
  run(args: { values: Record<string, unknown>; positionals: string[] }): Promise<void>;
}

export function parse(command: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    // One line; for a value starting with a dash (a passkey id may), node's own hint says how.
    const [first, ...rest] = (err as Error).message.split('\n');
    const hint = rest.find((line) => line.startsWith('To specify an option argument starting with a dash'));
    throw new UsageError(hint ? `${first} ${hint}` : first!);
  }
}

/** Opens the database the configuration names (migrating it) for a command, and closes it after. */
export async function withDb<T>(fn: (db: Db, config: LoadedConfig) => Promise<T>): Promise<T> {
  return withPrepared((prepared, config) => fn(prepared.db, config));
}

/**
 * withDb plus the provider `sesame serve` would build from the same configuration and database, for
 * commands that must judge client metadata exactly as the server will when it loads the client.
 */
export async function withProvider<T>(fn: (db: Db, config: LoadedConfig, provider: Provider) => Promise<T>): Promise<T> {
  return withPrepared(async ({ db, cookieKeys, keyring, mfaKeyring }, config, log) => {
    const renderer = createRenderer({ productName: config.ui.productName, cache: false });
    const jwks = await loadSigningJwks(db);
    const provider = createProvider({ config, db, log, pages: providerPages(renderer, config.ui.defaultLocale, config.issuer), jwks, cookieKeys, keyring, mfaKeyring });
    return fn(db, config, provider);
  });
}

async function withPrepared<T>(fn: (prepared: Awaited<ReturnType<typeof prepare>>, config: LoadedConfig, log: ReturnType<typeof createLogger>) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const prepared = await prepare(config, log);
  try {
    return await fn(prepared, config, log);
  } finally {
    await prepared.db.close();
  }
}

/** Prints a result: a JSON object on the last line with --json, readable lines otherwise. */
export function output(json: boolean, value: unknown, lines: string[]): void {
  if (json) console.log(JSON.stringify(value));
  else for (const line of lines) console.log(line);
}

export function helpText(name: string, command: Command): string {
  const flags = Object.entries(command.options).map(([flag, spec]) => {
    const value = spec.type === 'string' ? ' <value>' : '';
    return `  --${flag}${value}${spec.multiple ? ' (repeatable)' : ''}`;
  });
  return [`Usage: sesame ${name} ${command.usage}`, '', command.summary, '', 'Options:', ...flags, '  -h, --help'].join('\n');
}
