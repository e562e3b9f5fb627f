// Reading the audit log, shared by the management API (api/management-audit.ts) and the admin
// console (interactions/admin-audit.ts): the event-type list a filter takes, and the CSV export.
import type { AuditRow } from '../storage/audit.js';

/** One audit type as the code writes them (`login`, `action.review.approved`, `code.send_limited`). */
const TYPE = /^[\w.:-]{1,100}$/;
/** More types than any filter needs; a longer list is a mistake or an attempt to make a huge query. */
export const MAX_AUDIT_TYPES = 30;

/** `a,b , c` as a list of types; null when one is not a type name or there are too many. */
export function parseAuditTypes(list: string): string[] | null {
  const types = [
    ...new Set(
      list
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
  if (types.length > MAX_AUDIT_TYPES || !types.every((t) => TYPE.test(t))) return null;
  return types;
}

/** An event as both surfaces show it: the stored columns as they are, dates as ISO 8601 (UTC). */
export function auditView(row: AuditRow) {
  return {
    id: row.id,
    type: row.type,
    createdAt: row.createdAt.toISOString(),
    lastAt: row.lastAt?.toISOString() ?? null,
    count: row.count,
    userId: row.userId,
    clientId: row.clientId,
    identifier: row.identifier,
    ip: row.ip,
    reason: row.reason,
    userAgent: row.userAgent,
  };
}

const COLUMNS = ['id', 'type', 'createdAt', 'lastAt', 'count', 'userId', 'clientId', 'identifier', 'ip', 'reason', 'userAgent'] as const;

/**
 * One CSV cell (RFC 4180): quoted when it holds a quote, comma or line break, quotes doubled. A
 * value a spreadsheet would run as a formula (starting with = + - @, or a tab or carriage return
 * before one) gets a leading apostrophe, so an identifier or reason an attacker chose stays text.
 */
export function csvCell(value: string | number | null): string {
  let text = value === null ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The export: a header row, then one row per event, CRLF line ends (RFC 4180). */
export function auditCsv(rows: readonly AuditRow[]): string {
  const lines = [COLUMNS.join(',')];
  for (const row of rows) {
    const view = auditView(row);
    lines.push(COLUMNS.map((c) => csvCell(view[c])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
