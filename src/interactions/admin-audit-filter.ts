// The admin console's audit filter (admin-audit.ts): the GET form's fields as a storage query, or the
// catalog key of what is wrong with them. The user field takes what an admin has at hand: an email
// address or phone number (the account's events and those about the address before it existed) or
// a user id (an erased user's events keep only that).
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { parseAuditTypes } from '../passwordless/audit-log.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import { decodeAuditCursor, type AuditQuery } from '../storage/audit.js';
import { findUserByEmail, findUserByPhone } from '../storage/users.js';

/** The form as typed, sent back into its fields and the links (older page, CSV). */
export interface AuditForm {
  user: string;
  client: string;
  type: string;
  from: string;
  to: string;
}

const DAY = /^\d{4}-\d\d-\d\d$/;
const ID = /^[\w|:.@+-]{1,200}$/;

function field(ctx: Context, name: string): string {
  const value = ctx.query[name];
  return typeof value === 'string' ? value.trim().slice(0, 400) : '';
}

export function formOf(ctx: Context): AuditForm {
  return { user: field(ctx, 'user'), client: field(ctx, 'client'), type: field(ctx, 'type'), from: field(ctx, 'from'), to: field(ctx, 'to') };
}

/** `from`/`to` as the form's query string (empty fields left out), for the links that keep the filter. */
export function queryOf(form: AuditForm): string {
  return new URLSearchParams(Object.entries(form).filter(([, v]) => v !== '')).toString();
}

/** A YYYY-MM-DD that is a real day, as its midnight UTC (`plusDay`: the next midnight, for an inclusive end). */
function dayOf(value: string, plusDay = false): Date | null {
  if (!DAY.test(value)) return null;
  const day = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== value) return null;
  return plusDay ? new Date(day.getTime() + 86_400_000) : day;
}

async function userOf(s: Pick<Services, 'db'>, value: string): Promise<AuditQuery['user'] | null> {
  if (value.includes('@')) {
    const email = normalizeEmail(value);
    if (!email) return null;
    return { id: (await findUserByEmail(s.db, email))?.id, identifier: email };
  }
  if (value.startsWith('+')) {
    const phone = parsePhone(value)?.e164;
    if (!phone) return null;
    return { id: (await findUserByPhone(s.db, phone))?.id, identifier: phone };
  }
  return ID.test(value) ? { id: value } : null;
}

export type Filter = { query: Omit<AuditQuery, 'limit'> } | { error: string };

/** The form (and the page's cursor, when `withCursor`) as a query, or the message key of its first problem. */
export async function filterOf(s: Pick<Services, 'db'>, ctx: Context, form: AuditForm, withCursor: boolean): Promise<Filter> {
  const user = form.user ? await userOf(s, form.user) : undefined;
  if (user === null) return { error: 'admin.audit.bad_user' };
  if (form.client && !ID.test(form.client)) return { error: 'admin.audit.bad_client' };
  const types = form.type ? parseAuditTypes(form.type) : undefined;
  if (types === null || (types && types.length !== 1)) return { error: 'admin.audit.bad_type' };
  const from = form.from ? dayOf(form.from) : undefined;
  const to = form.to ? dayOf(form.to, true) : undefined;
  if (from === null || to === null) return { error: 'admin.audit.bad_date' };
  if (from && to && from >= to) return { error: 'admin.audit.bad_range' };
  const cursor = withCursor ? field(ctx, 'cursor') : '';
  const after = cursor ? decodeAuditCursor(cursor) : undefined;
  if (after === null) return { error: 'admin.audit.bad_cursor' };
  return { query: { user, clientId: form.client || undefined, types, from, to, after } };
}
