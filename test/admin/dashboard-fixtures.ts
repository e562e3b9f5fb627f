// Known rows for the dashboard tests: audit events (repeats folded by recordAudit itself), decisions
// and finished outbox messages at chosen times, and a reader of the page's number tables.
import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/storage/db.js';
import { recordAudit, type AuditEntry } from '../../src/storage/audit.js';
import { unescapeHtml } from '../helpers/html.js';

export const at = (iso: string) => new Date(iso);

/** `times` identical events at `when`: refusals fold onto one row (count = times), successes add rows. */
export async function audit(db: Db, entry: AuditEntry, when: Date, times = 1): Promise<void> {
  for (let i = 0; i < times; i++) await recordAudit(db, entry, when);
}

export async function decision(db: Db, outcome: string, when: Date, state = outcome === 'REVIEW' ? 'REVIEW_REQUIRED' : outcome) {
  await db.prisma.actionDecision.create({
    data: {
      id: randomUUID(),
      tenantId: 'app',
      userId: `u-${randomUUID()}`,
      actionCode: 'signIn',
      idempotencyKey: randomUUID(),
      outcome,
      state,
      ruleIds: '[]',
      explanation: '{}',
      stateUpdatedAt: when,
      createdAt: when,
      updatedAt: when,
    },
  });
}

export async function message(db: Db, status: 'sent' | 'failed' | 'skipped' | 'pending', createdAt: Date, sentAt: Date | null = null) {
  await db.prisma.outboxMessage.create({ data: { id: randomUUID(), channel: 'email', recipient: 'x@example.com', subject: null, text: '', status, createdAt, sentAt } });
}

/** One chart's table on the page: its column heads and, per row head (a time or "Total"), its numbers. */
export function chartTable(html: string, id: string): { columns: string[]; rows: Record<string, number[]> } {
  const figure = new RegExp(`<figure class="chart-figure" id="${id}">([\\s\\S]*?)</figure>`).exec(html)?.[1] ?? '';
  const text = (cell: string) => unescapeHtml(cell.replace(/<[^>]+>/g, '').trim());
  const head = /<thead>([\s\S]*?)<\/thead>/.exec(figure)?.[1] ?? '';
  const columns = [...head.matchAll(/<th scope="col">([\s\S]*?)<\/th>/g)].map((m) => text(m[1]!)).slice(1);
  const rows: Record<string, number[]> = {};
  for (const [, row] of figure.matchAll(/<tr><th scope="row">([\s\S]*?)<\/tr>/g)) {
    const [time, ...cells] = row!.split(/<\/th>|<\/td>/).map((c) => text(c.replace(/^<td>/, '')));
    rows[time!] = cells.filter((c) => c !== '').map(Number);
  }
  return { columns, rows };
}
