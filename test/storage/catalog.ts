// Reads a database's tables, columns and indexes into one shape, derives the same shape from
// prisma/schema.prisma's DMMF, and lists the differences. Used by schema-drift.test.ts.
import prismaInternals from '@prisma/internals';
import Database from 'better-sqlite3';
import type pg from 'pg';

const { getDMMF } = prismaInternals;

export type Provider = 'sqlite' | 'postgresql';

export interface Column {
  type: string;
  nullable: boolean;
  default: string | null;
}

export interface Index {
  name: string;
  columns: string[];
  unique: boolean;
}

export interface Table {
  /** The model the table belongs to, for messages; the table name when read from a database. */
  model: string;
  columns: Record<string, Column>;
  /** Constraint name is null on SQLite, where primary keys are unnamed. */
  primaryKey: { name: string | null; columns: string[] };
  /** Unique and non-unique indexes, excluding the primary key. */
  indexes: Index[];
}

export type Catalog = Record<string, Table>;

const TYPES: Record<Provider, Record<string, string>> = {
  sqlite: { String: 'TEXT', Int: 'INTEGER', BigInt: 'BIGINT', Float: 'REAL', Boolean: 'BOOLEAN', DateTime: 'DATETIME' },
  postgresql: { String: 'text', Int: 'integer', BigInt: 'bigint', Float: 'double precision', Boolean: 'boolean', DateTime: 'timestamp(3) without time zone' },
};

/** The schema text for a provider, the same swap scripts/prisma-generate.mjs makes. */
export function schemaFor(provider: Provider, sqliteSchema: string): string {
  return provider === 'sqlite' ? sqliteSchema : sqliteSchema.replace('provider = "sqlite"', 'provider = "postgresql"');
}

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: string;
  type: string;
  isRequired: boolean;
  isId: boolean;
  hasDefaultValue: boolean;
  default?: unknown;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { name: string | null; fields: string[] } | null;
}
interface DmmfIndex {
  model: string;
  type: string;
  dbName?: string | null;
  fields: { name: string }[];
}

function renderDefault(field: DmmfField): string | null {
  if (!field.hasDefaultValue) return null;
  const value = field.default;
  if (value && typeof value === 'object' && 'name' in value) return value.name === 'now' ? 'CURRENT_TIMESTAMP' : `${String(value.name)}()`;
  // The DMMF gives a BigInt's default as a string of digits; the database echoes the number.
  if (typeof value === 'string') return field.type === 'BigInt' ? value : `'${value.replace(/'/g, "''")}'`;
  return String(value);
}

/** What Prisma Migrate would create for the schema, with Prisma's default constraint names. */
export async function expectedCatalog(schemaText: string, provider: Provider): Promise<Catalog> {
  const dmmf = await getDMMF({ datamodel: schemaText });
  const models = dmmf.datamodel.models as unknown as DmmfModel[];
  const indexes = dmmf.datamodel.indexes as unknown as DmmfIndex[];
  const catalog: Catalog = {};
  for (const model of models) {
    const table = model.dbName ?? model.name;
    const column = (fieldName: string) => {
      const field = model.fields.find((f) => f.name === fieldName);
      return field?.dbName ?? fieldName;
    };
    const columns: Record<string, Column> = {};
    for (const field of model.fields.filter((f) => f.kind === 'scalar')) {
      columns[field.dbName ?? field.name] = {
        type: TYPES[provider][field.type] ?? `unmapped Prisma type ${field.type}`,
        nullable: !field.isRequired,
        default: renderDefault(field),
      };
    }
    const pkFields = model.primaryKey?.fields ?? model.fields.filter((f) => f.isId).map((f) => f.name);
    catalog[table] = {
      model: model.name,
      columns,
      primaryKey: {
        name: provider === 'sqlite' ? null : (model.primaryKey?.name ?? `${table}_pkey`),
        columns: pkFields.map(column),
      },
      indexes: indexes
        .filter((i) => i.model === model.name && (i.type === 'unique' || i.type === 'normal'))
        .map((i) => {
          const cols = i.fields.map((f) => column(f.name));
          const suffix = i.type === 'unique' ? 'key' : 'idx';
          return { name: i.dbName ?? `${table}_${cols.join('_')}_${suffix}`, columns: cols, unique: i.type === 'unique' };
        }),
    };
  }
  return catalog;
}

const IGNORED_TABLES = new Set(['_prisma_migrations']);

export function readSqliteCatalog(file: string): Catalog {
  const db = new Database(file, { readonly: true });
  try {
    const catalog: Catalog = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
    for (const { name } of tables.filter((t) => !IGNORED_TABLES.has(t.name))) {
      const info = db.prepare('SELECT * FROM pragma_table_info(?)').all(name) as {
        name: string;
        type: string;
        notnull: number;
        dflt_value: string | null;
        pk: number;
      }[];
      const columns: Record<string, Column> = {};
      for (const c of info) columns[c.name] = { type: c.type.toUpperCase(), nullable: c.notnull === 0, default: c.dflt_value };
      const indexList = db.prepare('SELECT * FROM pragma_index_list(?)').all(name) as {
        name: string;
        unique: number;
        origin: string;
      }[];
      catalog[name] = {
        model: name,
        columns,
        primaryKey: {
          name: null,
          columns: info
            .filter((c) => c.pk > 0)
            .sort((a, b) => a.pk - b.pk)
            .map((c) => c.name),
        },
        indexes: indexList
          .filter((i) => i.origin !== 'pk')
          .map((i) => ({
            name: i.name,
            unique: i.unique === 1,
            columns: (db.prepare('SELECT * FROM pragma_index_info(?) ORDER BY seqno').all(i.name) as { name: string }[]).map((c) => c.name),
          })),
      };
    }
    return catalog;
  } finally {
    db.close();
  }
}

export async function readPostgresCatalog(client: pg.Client, schema: string): Promise<Catalog> {
  const catalog: Catalog = {};
  const { rows: columns } = await client.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    is_nullable: string;
    column_default: string | null;
    datetime_precision: number | null;
  }>(
    `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, c.column_default, c.datetime_precision
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'
      ORDER BY c.table_name, c.ordinal_position`,
    [schema],
  );
  for (const c of columns) {
    if (IGNORED_TABLES.has(c.table_name)) continue;
    const table = (catalog[c.table_name] ??= {
      model: c.table_name,
      columns: {},
      primaryKey: { name: null, columns: [] },
      indexes: [],
    });
    table.columns[c.column_name] = {
      type: c.data_type.startsWith('timestamp') ? c.data_type.replace('timestamp', `timestamp(${c.datetime_precision})`) : c.data_type,
      nullable: c.is_nullable === 'YES',
      // PostgreSQL echoes string defaults with a cast: 'pending'::text.
      default: c.column_default?.replace(/::[a-z ]+(\(\d+\))?$/, '') ?? null,
    };
  }
  const { rows: indexes } = await client.query<{
    table_name: string;
    index_name: string;
    is_unique: boolean;
    is_primary: boolean;
    columns: string[];
  }>(
    `SELECT t.relname AS table_name, i.relname AS index_name, x.indisunique AS is_unique, x.indisprimary AS is_primary,
            ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                   ORDER BY k.ord)::text[] AS columns
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = $1
      ORDER BY t.relname, i.relname`,
    [schema],
  );
  for (const i of indexes) {
    const table = catalog[i.table_name];
    if (!table) continue;
    if (i.is_primary) table.primaryKey = { name: i.index_name, columns: i.columns };
    else table.indexes.push({ name: i.index_name, columns: i.columns, unique: i.is_unique });
  }
  return catalog;
}

const describeIndex = (i: Index) => `${i.unique ? 'unique index' : 'index'} on (${i.columns.join(', ')})`;

/** Every difference between what the schema asks for and what the database has; empty when they agree. */
export function diffCatalogs(expected: Catalog, actual: Catalog): string[] {
  const diffs: string[] = [];
  for (const [tableName, want] of Object.entries(expected)) {
    const m = `model ${want.model}`;
    const have = actual[tableName];
    if (!have) {
      diffs.push(`${m}: table "${tableName}" is missing from the database`);
      continue;
    }
    for (const [name, col] of Object.entries(want.columns)) {
      const got = have.columns[name];
      if (!got) diffs.push(`${m}: column "${name}" is missing from the database`);
      else {
        if (got.type !== col.type) diffs.push(`${m}: column "${name}" has type ${got.type}, schema wants ${col.type}`);
        if (got.nullable !== col.nullable)
          diffs.push(`${m}: column "${name}" is ${got.nullable ? 'nullable' : 'NOT NULL'}, schema wants ${col.nullable ? 'nullable' : 'NOT NULL'}`);
        if (got.default !== col.default) diffs.push(`${m}: column "${name}" has default ${got.default ?? '(none)'}, schema wants ${col.default ?? '(none)'}`);
      }
    }
    for (const name of Object.keys(have.columns)) if (!(name in want.columns)) diffs.push(`${m}: column "${name}" exists in the database but not in the schema`);

    if (want.primaryKey.columns.join(',') !== have.primaryKey.columns.join(','))
      diffs.push(`${m}: primary key is (${have.primaryKey.columns.join(', ')}), schema wants (${want.primaryKey.columns.join(', ')})`);
    else if (want.primaryKey.name !== have.primaryKey.name) diffs.push(`${m}: primary key is named ${have.primaryKey.name}, schema wants ${want.primaryKey.name}`);

    const key = (i: Index) => `${i.unique}:${i.columns.join(',')}`;
    for (const index of want.indexes) {
      const got = have.indexes.find((i) => key(i) === key(index));
      if (!got) diffs.push(`${m}: ${describeIndex(index)} is missing from the database`);
      else if (got.name !== index.name) diffs.push(`${m}: ${describeIndex(index)} is named ${got.name}, schema wants ${index.name}`);
    }
    for (const index of have.indexes)
      if (!want.indexes.some((i) => key(i) === key(index))) diffs.push(`${m}: ${describeIndex(index)} (${index.name}) exists in the database but not in the schema`);
  }
  for (const tableName of Object.keys(actual)) if (!(tableName in expected)) diffs.push(`table "${tableName}" exists in the database but has no model in the schema`);
  return diffs;
}
