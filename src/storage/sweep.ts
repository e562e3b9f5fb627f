// Periodic removal of expired rows, so tables stay the size of live state (and the audit log the
// size of its retention).
import type { Db } from './db.js';
import { sweepOidcPayloads } from './oidc-adapter.js';
import { sweepCodes } from './codes.js';
import { sweepCounters } from './counters.js';
import { sweepOutbox } from './outbox.js';
import { sweepTickets } from './login-tickets.js';
import { sweepLinks } from './magic-links.js';
import { sweepExternalStates } from './external.js';
import { sweepAudit } from './audit.js';
import { sweepPasskeyChallenges } from './passkeys.js';
import { sweepUnconfirmedAuthenticators } from './mfa.js';
import { sweepMfaTokens } from './mfa-tokens.js';
import { sweepDecisions } from './action-decisions.js';

export interface SweepPolicy {
  /** Seconds audit events are kept. */
  auditRetention: number;
  /** Seconds risk decisions are kept (config actions.retentionDays; 90 days unless given). */
  decisionRetention?: number;
}

export async function sweepExpired(db: Db, policy: SweepPolicy, now = new Date()) {
  return {
    oidc: await sweepOidcPayloads(db, now),
    codes: await sweepCodes(db, now),
    counters: await sweepCounters(db, now),
    outbox: await sweepOutbox(db, now),
    tickets: await sweepTickets(db, now),
    links: await sweepLinks(db, now),
    externalStates: await sweepExternalStates(db, now),
    audit: await sweepAudit(db, policy.auditRetention, now),
    passkeyChallenges: await sweepPasskeyChallenges(db, now),
    unconfirmedAuthenticators: await sweepUnconfirmedAuthenticators(db, now),
    mfaTokens: await sweepMfaTokens(db, now),
    decisions: await sweepDecisions(db, new Date(now.getTime() - (policy.decisionRetention ?? 90 * 86_400) * 1000)),
    analyzed: await refreshStatistics(db),
  };
}

/**
 * PostgreSQL plans each prepared statement of a connection once and keeps the plan until the
 * statistics of its tables change. Autovacuum analyzes tables as they grow; without it nothing does,
 * and plans made while the tables were empty (a new install's first requests) stay: a track's
 * history then read every decision of its tenant to find one user's (an index tie broken the wrong
 * way). So where autovacuum is off, each sweep analyzes this schema's tables, which also makes
 * every connection plan its statements again. Answers how many tables it analyzed.
 */
async function refreshStatistics(db: Db): Promise<number> {
  if (db.provider !== 'postgresql') return 0;
  const [setting] = await db.prisma.$queryRawUnsafe<{ autovacuum: string }[]>("SELECT current_setting('autovacuum') AS autovacuum");
  if (setting?.autovacuum !== 'off') return 0;
  const tables = await db.prisma.$queryRawUnsafe<{ name: string }[]>('SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()');
  const names = tables.map((t) => `"${t.name.replace(/"/g, '""')}"`);
  if (names.length > 0) await db.prisma.$executeRawUnsafe(`ANALYZE ${names.join(', ')}`);
  return names.length;
}
