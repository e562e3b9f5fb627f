// The one rewrite of `?` placeholders (what SQLite reads) into PostgreSQL's `$1, $2, ...`. A `?`
// inside a string literal, a quoted identifier or a comment is text, not a parameter, and stays.

const IDENTIFIER_CHAR = /[A-Za-z0-9_$]/;
const DOLLAR_TAG = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/;

/** Where the quoted or commented span starting at `i` ends (the index after it), or undefined when none starts there. */
function skipQuoted(sql: string, i: number): number | undefined {
  const c = sql[i]!;
  const next = sql[i + 1];
  if (c === "'" || c === '"') {
    // E'...' strings take backslash escapes; elsewhere a doubled quote is the only escape.
    const backslashes = c === "'" && /[Ee]/.test(sql[i - 1] ?? '') && !IDENTIFIER_CHAR.test(sql[i - 2] ?? '');
    let j = i + 1;
    while (j < sql.length) {
      if (backslashes && sql[j] === '\\') j += 2;
      else if (sql[j] === c && sql[j + 1] === c) j += 2;
      else if (sql[j] === c) return j + 1;
      else j++;
    }
    return sql.length;
  }
  if (c === '-' && next === '-') {
    const end = sql.indexOf('\n', i);
    return end === -1 ? sql.length : end + 1;
  }
  if (c === '/' && next === '*') {
    // PostgreSQL nests block comments.
    let depth = 1;
    let j = i + 2;
    while (j < sql.length && depth > 0) {
      const opens = sql.startsWith('/*', j);
      const closes = sql.startsWith('*/', j);
      if (opens) depth++;
      if (closes) depth--;
      j += opens || closes ? 2 : 1;
    }
    return j;
  }
  if (c === '$' && !IDENTIFIER_CHAR.test(sql[i - 1] ?? '')) {
    const tag = DOLLAR_TAG.exec(sql.slice(i))?.[0];
    if (!tag) return undefined;
    const end = sql.indexOf(tag, i + tag.length);
    return end === -1 ? sql.length : end + tag.length;
  }
  return undefined;
}

/**
 * `sql` with each placeholder `?` numbered `$1`, `$2`, ... in order, for PostgreSQL. Literals
 * ('...', E'...', $$...$$), quoted identifiers and comments are copied as they are. A bare `??` is
 * two placeholders; PostgreSQL's jsonb `?` operators cannot be told from placeholders, so our
 * statements do not use them.
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const end = skipQuoted(sql, i);
    if (end !== undefined) {
      out += sql.slice(i, end);
      i = end;
    } else {
      out += sql[i] === '?' ? `$${++n}` : sql[i];
      i++;
    }
  }
  return out;
}
