// The `sesame` command: dispatches to one module per command; every failure is one line and exit 1.
import type { Command } from './cli/common.js';
import { applyV8Flags } from './cli/v8-flags.js';

// Before any module compiles WebAssembly or fills the heap, so before the imports below.
applyV8Flags();

// oidc-provider prints an "Unsupported runtime" warning on stderr when imported on Node 20; a failing
// command must print exactly one line, so drop that notice before the commands (and it) load.
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
  warn(...args);
};
const { ConfigError } = await import('./config/load.js');
const { clientsCommand } = await import('./cli/clients.js');
const { keysCommand } = await import('./cli/keys.js');
const { linksCommand } = await import('./cli/links.js');
const { serviceClientsCommand } = await import('./cli/service-clients.js');
const { actionsCommand } = await import('./cli/actions.js');
const { migrateCommand, serveCommand, usersCommand, workerCommand } = await import('./cli/basic.js');
const { UsageError, helpText, parse } = await import('./cli/common.js');

const commands: Record<string, Command> = {
  serve: serveCommand,
  migrate: migrateCommand,
  worker: workerCommand,
  clients: clientsCommand,
  keys: keysCommand,
  links: linksCommand,
  users: usersCommand,
  'service-clients': serviceClientsCommand,
  actions: actionsCommand,
};

const overview = [
  'Usage: sesame <command> [options]',
  '',
  'Commands:',
  ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(17)}${c.summary.split('\n')[0]}`),
  '',
  "Run `sesame <command> --help` for a command's options.",
].join('\n');

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(overview);
    return;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}" (try sesame --help)`);
  const { values, positionals } = parse(command, rest);
  if (values.help) {
    console.log(helpText(name, command));
    return;
  }
  await command.run({ values, positionals });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const known = err instanceof UsageError || err instanceof ConfigError;
  console.error(`sesame: ${known ? (err as Error).message : `${(err as Error).message ?? String(err)}`}`);
  process.exitCode = 1;
});
