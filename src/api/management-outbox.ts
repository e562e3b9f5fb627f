// The management API's outbox area (support: "the mails stopped"): the messages waiting to be sent
// and those the worker gave up on, newest first, a page at a time, and the retry of a given-up one
// (delivery/outbox-retry.ts, shared with the console: once, audited with the management client).
// Recipients are shown (operators need them for support); subjects and bodies never are: they hold
// sign-in codes and links. Schema-driven routes (management-routes.ts).
import { z } from 'zod';
import { SesameError } from '../errors.js';
import { notFound } from '../http/errors.js';
import { retryFailedMessage } from '../delivery/outbox-retry.js';
import { storable } from '../storage/db.js';
import { decodeCursor, listOutbox, type OutboxEntry } from '../storage/outbox-operations.js';
import { managementClientOf } from './admin-auth.js';
import { route, type ManagementRoute } from './management-routes.js';

const date = z.iso.datetime({ offset: true });

const MessageSchema = z.object({
  id: z.string(),
  channel: z.enum(['email', 'sms', 'webhook']),
  connectionId: z.string().nullable(),
  recipient: z.string().describe('The email address, phone number or webhook URL.'),
  state: z.enum(['pending', 'failed']),
  attempts: z.number().int(),
  lastError: z.string().nullable().describe("The channel's last refusal, e.g. the SMTP server's answer."),
  nextAttemptAt: date.nullable().describe('When the worker tries a pending message next; null once given up.'),
  createdAt: date,
  retryable: z.boolean().describe('Given up and still holding its content (for 24 hours): POST …/retry sends it again.'),
});

const ListQuery = z.strictObject({
  state: z.enum(['pending', 'failed'], { error: 'must be "pending" or "failed"' }).optional().describe('Only these; both when absent.'),
  cursor: z.string().max(400).optional().describe("The previous page's `next`."),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export function messageView(entry: OutboxEntry): z.input<typeof MessageSchema> {
  return {
    ...entry,
    channel: entry.channel as z.input<typeof MessageSchema>['channel'],
    nextAttemptAt: entry.nextAttemptAt?.toISOString() ?? null,
    createdAt: entry.createdAt.toISOString(),
  };
}

export const OUTBOX_ROUTES: readonly ManagementRoute[] = [
  route({
    method: 'get',
    path: '/outbox',
    scope: 'outbox:read',
    summary: 'Messages waiting to be sent and messages the worker gave up on, newest first, a page at a time. Never their content.',
    params: {},
    query: ListQuery,
    ok: {
      200: {
        description: 'A page of messages; `next` is the cursor of the next page, null at the end.',
        schema: z.object({ messages: z.array(MessageSchema), next: z.string().nullable() }),
      },
    },
    refusals: { 400: 'A parameter is not valid (the description names it).' },
    async handle(s, _ctx, { query }) {
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      if (after === null) throw new SesameError('invalidRequest', { detail: 'cursor: not a cursor this API gave.' });
      const { entries, next } = await listOutbox(s.db, { states: query.state ? [query.state] : ['failed', 'pending'], after, limit: query.limit });
      return { status: 200, body: { messages: entries.map(messageView), next } };
    },
  }),
  route({
    method: 'post',
    path: '/outbox/:id/retry',
    scope: 'outbox:write',
    summary: 'Sends a given-up message again: back in the queue, due now, with a fresh count of attempts. Once, however many retries race.',
    params: { id: 'The message id.' },
    ok: { 200: { description: 'The message, pending again.', schema: MessageSchema } },
    refusals: {
      404: 'No message with this id.',
      409: 'The message is not given up (pending, sent or skipped, or another retry won), or its content was erased 24 hours after it was created.',
    },
    async handle(s, ctx) {
      const id = ctx.params.id as string;
      const client = managementClientOf(ctx);
      const by = { via: 'management_api' as const, actor: `management_api:${client}`, clientId: client, ip: ctx.ip };
      const result = storable(id) ? await retryFailedMessage(s.db, id, by, s.wakeWorker) : { outcome: 'notFound' as const };
      if (result.outcome === 'notFound') throw notFound('No message with this id.');
      if (result.outcome === 'notFailed')
        throw new SesameError('conflict', { detail: 'This message is not waiting for a retry: it is pending, sent or skipped, or was retried already.' });
      if (result.outcome === 'erased')
        throw new SesameError('conflict', { detail: 'This message gave up more than 24 hours ago and its content was erased; ask the user to request a new one.' });
      return { status: 200, body: messageView(result.entry) };
    },
  }),
];
