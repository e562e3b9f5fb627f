// The `sesame` command: dispatches to one module per command; every failure is one line and exit 1.
import { ConfigError } from './config/load.js';
import { clientsCommand } from './cli/clients.js';
import { keysCommand } from './cli/keys.js';
import { migrateCommand, serveCommand, usersCommand, workerCommand } from './cli/basic.js';
import { type Command, UsageError, helpText, parse } from './cli/common.js';

const commands: Record<string, Command> = {
  serve: serveCommand,
  migrate: migrateCommand,
  worker: workerCommand,
  clients: clientsCommand,
  keys: keysCommand,
  users: usersCommand,
};

const overview = [
  'Usage: sesame <command> [options]',
  '',
  'Commands:',
  ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)}${c.summary.split('\n')[0]}`),
  '',
  'Run `sesame <command> --help` for a command\'s options.',
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
