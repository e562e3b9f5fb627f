// The management API's audit area: GET /api/v1/audit reads the log newest first, filtered by user,
// client, event types and time, a page at a time with an opaque cursor (storage/audit.ts keys pages
// on (createdAt, id), so events written meanwhile never shift a walk). It answers what is stored and
// nothing more: an erased user's events keep only the pseudonymous id (storage/user-erasure.ts).
import { z } from 'zod';
import { SesameError } from '../errors.js';
import { auditView, MAX_AUDIT_TYPES, parseAuditTypes } from '../passwordless/audit-log.js';
import { decodeAuditCursor, encodeAuditCursor, queryAudit } from '../storage/audit.js';
import { route, type ManagementRoute } from './management-routes.js';

const date = z.iso.datetime({ offset: true });
const instant = z.union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'must be an ISO 8601 date-time with an offset, or a date' });

export const AuditEventSchema = z.object({
  id: z.string(),
  type: z.string(),
  createdAt: date,
  lastAt: date.nullable().describe('When the latest of identical refusals counted on this row happened.'),
  count: z.number().int().describe('How many identical refusals within a minute this row stands for (1 otherwise).'),
  userId: z.string().nullable(),
  clientId: z.string().nullable(),
  identifier: z.string().nullable().describe('The email address or phone number the event was about; null once its user was erased.'),
  ip: z.string().nullable(),
  reason: z.string().nullable(),
  userAgent: z.string().nullable(),
});

const Query = z.strictObject({
  user_id: z.string().min(1).max(200).optional().describe("Events of this user's id (an erased user's events keep the id)."),
  client_id: z.string().min(1).max(200).optional().describe('Events of this client.'),
  type: z.string().min(1).max(3100).optional().describe(`Event types, comma-separated (any of them; at most ${MAX_AUDIT_TYPES}).`),
  from: instant.optional().describe('Events at or after this time: ISO 8601 date-time with offset, or a date (its midnight UTC).'),
  to: instant.optional().describe('Events before this time (exclusive): ISO 8601 date-time with offset, or a date (its midnight UTC).'),
  cursor: z.string().max(400).optional().describe("The previous page's `next_cursor`."),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

function notValid(detail: string) {
  return new SesameError('invalidRequest', { detail });
}

/** A date-time, or a date as its midnight UTC (zod checked the calendar: no 30 February). */
function instantOf(field: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const instant = new Date(value.length === 10 ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(instant.getTime())) throw notValid(`${field}: must be an ISO 8601 date-time with an offset, or a date.`);
  return instant;
}

export const AUDIT_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'get',
    path: '/audit',
    scope: 'audit:read',
    summary: 'The audit log, newest first, filtered by user, client, event types and time, a page at a time.',
    params: {},
    query: Query,
    ok: {
      200: {
        description: 'A page of events; `next_cursor` continues with older events, null at the end.',
        schema: z.object({ events: z.array(AuditEventSchema), next_cursor: z.string().nullable() }),
      },
    },
    refusals: { 400: 'A parameter is not valid (the description names it).' },
    async handle(s, _ctx, { query }) {
      const types = query.type === undefined ? undefined : parseAuditTypes(query.type);
      if (types === null) throw notValid(`type: a comma-separated list of at most ${MAX_AUDIT_TYPES} event types.`);
      const from = instantOf('from', query.from);
      const to = instantOf('to', query.to);
      if (from && to && from > to) throw notValid('to: must not be before from.');
      const after = query.cursor === undefined ? undefined : decodeAuditCursor(query.cursor);
      if (after === null) throw notValid('cursor: not a cursor this API gave.');
      const page = await queryAudit(s.db, {
        user: query.user_id === undefined ? undefined : { id: query.user_id },
        clientId: query.client_id,
        types,
        from,
        to,
        after,
        limit: query.limit,
      });
      return { status: 200, body: { events: page.events.map(auditView), next_cursor: page.next ? encodeAuditCursor(page.next) : null } };
    },
  }),
];
