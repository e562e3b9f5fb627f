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
  };
}
