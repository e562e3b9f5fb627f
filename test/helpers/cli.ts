// Runs the `sesame` command as operators do: a real child process (tsx on src/cli.ts) on a given
// database and config file, and reads its answers (JSON on the last line, or one failure line).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { openDb, type Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function sesame(databaseUrl: string, configFile: string, args: string[]): Promise<Result> {
  const env = { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', SESAME_CONFIG: configFile, NODE_ENV: 'test' };
  return new Promise((done) => {
    // No timeout of its own: a Node process booting tsx on a loaded machine can take many seconds, and
    // the test's timeout already bounds a command that hangs. A kill shows as its signal in stderr.
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env }, (err, stdout, stderr) => {
      const killed = err && typeof err.code !== 'number' ? `\n(killed: ${err.signal ?? err.message})` : '';
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr: stderr + killed });
    });
  });
}

/** The JSON object a `--json` command prints on its last line. */
export function lastJson(result: Result): any {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout.trimEnd().split('\n').at(-1)!);
}

/** A failure: exit 1 and exactly one `sesame: ` line on stderr; returns that line. */
export function failure(result: Result): string {
  expect(result.code).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^sesame: \S/);
  return lines[0]!;
}

/** What a support command's test runs `sesame` against: a fresh migrated SQLite database, open as `db` to seed and read, and an empty config file. */
export interface CliStore {
  database: TestDatabase;
  db: Db;
  config: string;
  /** Closes the database, drops it and removes the config's folder. */
  close(): Promise<void>;
}

export async function cliStore(): Promise<CliStore> {
  const database = await createTestDatabase('sqlite');
  const dir = mkdtempSync(join(tmpdir(), 'sesame-cli-'));
  const config = join(dir, 'empty.json');
  writeFileSync(config, '{}');
  await migrate(database.url);
  const db = openDb(database.url);
  return {
    database,
    db,
    config,
    async close() {
      await db.close();
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
