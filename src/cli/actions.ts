// `sesame actions secret|list|explain|review`: risk actions for operators. A tenant's secret key for
// the Authsignal-compatible API (shown once; only its digest is kept), the decisions newest first,
// one decision explained (the facts its policy read, the rules that matched, who decided, how its
// state moved), and a held action approved or denied (audited via cli, like the API's reviews).
import type { LoadedConfig } from '../config/load.js';
import { issueTenantSecret } from '../passwordless/action-tenants.js';
import { reviewAction } from '../passwordless/action-reviews.js';
import { findDecisionById, listDecisions, type ActionDecisionRow } from '../storage/action-decisions.js';
import { recordAudit } from '../storage/audit.js';
import { findStoredClient } from '../storage/clients.js';
import type { Db } from '../storage/db.js';
import { type Command, UsageError, output, withDb } from './common.js';

const STATES = ['ALLOW', 'BLOCK', 'CHALLENGE_REQUIRED', 'CHALLENGE_SUCCEEDED', 'CHALLENGE_FAILED', 'REVIEW_REQUIRED', 'REVIEW_SUCCEEDED', 'REVIEW_FAILED'];
const iso = (date: Date | null) => date?.toISOString() ?? null;

async function clientExists(db: Db, config: LoadedConfig, clientId: string): Promise<boolean> {
  return config.clients.some((c) => c.client_id === clientId) || (await findStoredClient(db, clientId)) !== undefined;
}

/** A decision in a list: who, what, when, and where it stands. */
function summary(row: ActionDecisionRow) {
  return {
    id: row.id,
    tenantId: row.tenantId,
    userId: row.userId,
    actionCode: row.actionCode,
    idempotencyKey: row.idempotencyKey,
    outcome: row.outcome,
    state: row.state,
    ruleIds: JSON.parse(row.ruleIds) as string[],
    createdAt: iso(row.createdAt),
    stateUpdatedAt: iso(row.stateUpdatedAt),
  };
}

/** A decision explained: the facts read, the rules that matched and the one that decided, its state's history. */
function explanation(row: ActionDecisionRow) {
  const { facts, decidedBy, matched } = JSON.parse(row.explanation) as { facts: unknown; decidedBy: unknown; matched: unknown[] };
  return {
    ...summary(row),
    principalId: row.principalId,
    decidedBy,
    matched,
    facts,
    ip: row.ip,
    deviceId: row.deviceId,
    country: row.country,
    verificationMethods: JSON.parse(row.verificationMethods) as string[],
    defaultVerificationMethod: row.defaultVerificationMethod,
    verificationMethod: row.verificationMethod,
    verifiedByAuthenticatorId: row.verifiedByAuthenticatorId,
    reviewedBy: row.reviewedBy,
    validatedAt: iso(row.validatedAt),
    updatedAt: iso(row.updatedAt),
  };
}

function explainLines(e: ReturnType<typeof explanation>): string[] {
  const decided = e.decidedBy ? `rule ${JSON.stringify(e.decidedBy)}` : 'the default outcome (no rule matched)';
  return [
    `${e.id}\t${e.tenantId}\t${e.userId}\t${e.actionCode}\t${e.state}`,
    `outcome ${e.outcome}, decided by ${decided}`,
    `matched: ${e.matched.length ? JSON.stringify(e.matched) : 'none'}`,
    `facts: ${JSON.stringify(e.facts)}`,
    `created ${e.createdAt}, state since ${e.stateUpdatedAt}${e.reviewedBy ? `, reviewed by ${e.reviewedBy}` : ''}${e.verificationMethod ? `, proven by ${e.verificationMethod}` : ''}${e.validatedAt ? `, validated ${e.validatedAt}` : ''}`,
  ];
}

async function decisionOf(db: Db, id: string | undefined, usage: string): Promise<ActionDecisionRow> {
  if (!id) throw new UsageError(usage);
  const row = await findDecisionById(db, id);
  if (!row) throw new UsageError(`no decision "${id}"`);
  return row;
}

export const actionsCommand: Command = {
  summary: [
    'Risk actions: tenant secret keys for the Authsignal-compatible API, decisions, reviews.',
    '  secret <client_id>              a new secret key for the client (shown once; replaces the old one)',
    '  list                            decisions, newest first (--tenant, --state, --user filter; 50 at most)',
    '  explain <decision id>           the facts read, the rules that matched, who decided, the state history',
    '  review <decision id> approve|deny   settles an action held for review (audited via cli)',
  ].join('\n'),
  usage: 'secret|list|explain|review [args] [--json]',
  options: { json: { type: 'boolean' }, tenant: { type: 'string' }, state: { type: 'string' }, user: { type: 'string' } },
  async run({ values, positionals }) {
    const [sub, ...args] = positionals;
    const json = values.json === true;
    if (sub === 'secret') return secret(args, json);
    if (sub === 'list') return list(values, args, json);
    if (sub === 'explain' || sub === 'review') {
      const usage = sub === 'explain' ? 'actions explain: expected <decision id>' : 'actions review: expected <decision id> approve|deny';
      if (args.length !== (sub === 'explain' ? 1 : 2)) throw new UsageError(usage);
      return withDb(async (db) => {
        const row = await decisionOf(db, args[0], usage);
        if (sub === 'explain') {
          const e = explanation(row);
          return output(json, e, explainLines(e));
        }
        return review(db, row, args[1]!, json);
      });
    }
    throw new UsageError('actions: expected secret, list, explain or review');
  },
};

async function secret(args: string[], json: boolean): Promise<void> {
  if (args.length !== 1) throw new UsageError('actions secret: expected <client_id>');
  const clientId = args[0]!;
  await withDb(async (db, config) => {
    if (!(await clientExists(db, config, clientId))) throw new UsageError(`actions secret: no client "${clientId}"`);
    const secretKey = await issueTenantSecret(db, clientId);
    await recordAudit(db, { type: 'action.secret.issued', clientId, reason: 'cli' });
    output(json, { secretKey }, [`secret key of ${clientId} (shown once; any earlier key no longer works):`, secretKey]);
  });
}

async function list(values: Record<string, unknown>, args: string[], json: boolean): Promise<void> {
  if (args.length) throw new UsageError('actions list: takes no arguments (filter with --tenant, --state, --user)');
  const state = values.state as string | undefined;
  if (state !== undefined && !STATES.includes(state)) throw new UsageError(`actions list: --state must be one of ${STATES.join(', ')}`);
  const where = { tenantId: values.tenant as string | undefined, state, userId: values.user as string | undefined };
  const rows = await withDb((db) => listDecisions(db, Object.fromEntries(Object.entries(where).filter(([, v]) => v !== undefined))));
  const decisions = rows.map(summary);
  output(json, { decisions }, decisions.length ? decisions.map((d) => [d.id, d.createdAt, d.tenantId, d.userId, d.actionCode, d.state].join('\t')) : ['no decisions']);
}

async function review(db: Db, row: ActionDecisionRow, verdict: string, json: boolean): Promise<void> {
  if (verdict !== 'approve' && verdict !== 'deny') throw new UsageError('actions review: expected approve or deny');
  const updated = await reviewAction(db, row, verdict === 'approve' ? 'REVIEW_SUCCEEDED' : 'REVIEW_FAILED', { via: 'cli', reviewedBy: 'cli' });
  if (!updated) {
    const now = (await findDecisionById(db, row.id))?.state ?? row.state;
    throw new UsageError(`actions review: decision ${row.id} is ${now}, not REVIEW_REQUIRED`);
  }
  output(json, summary(updated), [`${updated.id}\t${updated.state}`]);
}
