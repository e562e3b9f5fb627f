// The hand-written statements against the data model: every statement the storage modules define
// (sqlStatement) is exported, names only tables and columns the DMMF has, on SQLite and PostgreSQL,
// and compiles on each engine it is written for (EXPLAIN on a migrated database), so a typo fails here.
import { readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma as SqlitePrisma } from '../../src/storage/generated/sqlite/client.js';
import { Prisma as PostgresPrisma } from '../../src/storage/generated/postgresql/client.js';
import { sqlitePath } from '../../src/storage/db.js';
import { definedStatements, type Statement } from '../../src/storage/sql.js';
import { type Catalog, expectedCatalog, schemaFor } from './catalog.js';
import { ENGINES, POSTGRES_URL, withMigratedDb } from '../helpers/databases.js';

const SCHEMA = readFileSync(new URL('../../prisma/schema.prisma', import.meta.url), 'utf8');
const STORAGE = new URL('../../src/storage/', import.meta.url);
const GENERATED = { sqlite: SqlitePrisma, postgresql: PostgresPrisma } as const;

/** Every exported statement of every storage module, by `file:EXPORT`. */
const exported = new Map<Statement<unknown>, string>();
beforeAll(async () => {
  for (const file of readdirSync(STORAGE).filter((f) => f.endsWith('.ts'))) {
    const module = (await import(new URL(file, STORAGE).href)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(module)) {
      if (definedStatements().includes(value as Statement<unknown>)) exported.set(value as Statement<unknown>, `${file}:${name}`);
    }
  }
});

interface Names {
  tables: string[];
  /** Column references: `table` when the statement says whose column it is (directly or by alias). */
  columns: { column: string; table?: string }[];
}

/** The tables and columns a statement names (our statements quote every table and column). */
function namesOf(text: string): Names {
  let rest = text.replace(/'(?:[^']|'')*'/g, "''");
  const tables: string[] = [];
  const aliases = new Map<string, string>();
  rest = rest.replace(/\b(FROM|INTO|UPDATE|JOIN)\s+"([^"]+)"(?:\s+AS\s+(\w+))?/gi, (_m, keyword: string, table: string, alias?: string) => {
    tables.push(table);
    if (alias) aliases.set(alias, table);
    return keyword;
  });
  const columns: Names['columns'] = [];
  rest = rest.replace(/(?:"([^"]+)"|\b([A-Za-z_]\w*))\."([^"]+)"/g, (_m, quoted?: string, bare?: string, column?: string) => {
    const qualifier = (quoted ?? bare)!;
    // excluded."x" is the row an upsert tried to insert; a CTE's name (picked."id") is not a table.
    const table = tables.includes(qualifier) ? qualifier : (aliases.get(qualifier) ?? (qualifier === 'excluded' ? tables[0] : undefined));
    columns.push({ column: column!, table });
    return '';
  });
  for (const [, column] of rest.matchAll(/"([^"]+)"/g)) columns.push({ column: column! });
  return { tables: [...new Set(tables)], columns };
}

function problemsOf(statement: Statement<unknown>, catalog: Catalog, generated: Record<string, unknown>): string[] {
  const { tables, columns } = namesOf(statement.text);
  const problems: string[] = [];
  if (!tables.length) problems.push('names no table');
  const modelNames = Object.values(generated.ModelName as Record<string, string>);
  for (const table of tables) {
    if (!catalog[table]) problems.push(`table "${table}" is not in the DMMF`);
    if (!modelNames.includes(table)) problems.push(`table "${table}" is not a model of the generated client`);
  }
  for (const { column, table } of columns) {
    const owners = (table ? [table] : tables).filter((t) => catalog[t]?.columns[column]);
    if (!owners.length) problems.push(`column "${column}" is not a column of ${table ?? tables.join(' or ')}`);
    for (const owner of owners) {
      const fields = Object.values((generated[`${owner}ScalarFieldEnum`] ?? {}) as Record<string, string>);
      if (!fields.includes(column)) problems.push(`column "${column}" is not a field of the generated ${owner}`);
    }
  }
  return problems;
}

describe('hand-written statements', () => {
  it('are all exported from their table modules, and there are some', () => {
    const unexported = definedStatements()
      .filter((s) => !exported.has(s))
      .map((s) => s.text);
    expect(unexported).toEqual([]);
    expect(exported.size).toBeGreaterThanOrEqual(15);
  });

  it('read their tables and columns off the text (the parser itself)', () => {
    expect(namesOf('UPDATE "T" AS o SET "a" = ? FROM picked WHERE o."b" = picked."c" AND "d" = \'"x"\'')).toEqual({
      tables: ['T'],
      columns: [{ column: 'b', table: 'T' }, { column: 'c', table: undefined }, { column: 'a' }, { column: 'd' }],
    });
  });

  it.each(ENGINES)('name only tables and columns of the DMMF and the generated client on %s', async (engine) => {
    const catalog = await expectedCatalog(schemaFor(engine, SCHEMA), engine);
    const problems = [...exported].flatMap(([statement, where]) => problemsOf(statement, catalog, GENERATED[engine]).map((p) => `${where}: ${p}`));
    expect(problems).toEqual([]);
  });
});

describe.each(ENGINES)('hand-written statements on %s', (engine) => {
  let explain: (text: string, postgres: string, params: null[]) => Promise<unknown>;
  let end = async () => {};
  withMigratedDb(engine, (_db, url) => {
    if (engine === 'sqlite') {
      const connection = new Database(sqlitePath(url), { readonly: true });
      // Preparing compiles: an unknown table or column fails here.
      explain = async (text, _postgres, params) => connection.prepare(`EXPLAIN ${text}`).all(...params);
      end = async () => void connection.close();
    } else {
      const client = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path="${new URL(url).searchParams.get('schema')}"` });
      const connected = client.connect();
      explain = async (_text, postgres, params) => {
        await connected;
        return client.query(`EXPLAIN ${postgres}`, params);
      };
      end = () => client.end();
    }
  });
  afterAll(() => end());

  it('each compiles against the migrated schema', async () => {
    const failures: string[] = [];
    for (const [statement, where] of exported) {
      if (!statement.engines.includes(engine)) continue;
      // As many nulls as placeholders: the count the rewrite for PostgreSQL found.
      const count = Math.max(0, ...[...statement.postgres.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      await explain(
        statement.text,
        statement.postgres,
        Array.from({ length: count }, () => null),
      ).catch((err: unknown) => failures.push(`${where}: ${(err as Error).message}`));
    }
    expect(failures).toEqual([]);
  });
});
