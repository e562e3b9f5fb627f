// The rules API, in the shape of Authsignal's management API (`/v1/management`, the tenant's secret
// key): a tenant's action configurations and their rules. What it stores is the policy trackAction
// reads for that tenant only (passwordless/action-tenants.ts policyFor); the config file's
// `actions.policies` stay the fallback. Every change is audited with the tenant and its address.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import type { ActionPolicy, Rule } from '../config/actions.js';
import { SesameError } from '../errors.js';
import { noStore } from '../http/middleware.js';
import { recordAudit } from '../storage/audit.js';
import { requesterIp } from '../passwordless/requester-network.js';
import {
  ACTION_CODE,
  applyConfiguration,
  applyRule,
  changeConfiguration,
  configurationInput,
  configurationView,
  listConfigurations,
  parseBody,
  readConfiguration,
  ruleInput,
  ruleView,
} from '../passwordless/action-configurations.js';
import { serverApiErrors, tenantAuth, type TenantState } from './authsignal-common.js';

const tenantOf = (ctx: Context) => (ctx.state as TenantState).tenantId;

function actionCodeOf(ctx: Context): string {
  const code = ctx.params.actionCode!;
  if (!ACTION_CODE.test(code)) throw new SesameError('invalidRequest', { detail: 'actionCode: 1 to 64 letters, digits, or _ . : -' });
  return code;
}

const missing = (actionCode: string) => new SesameError('notFound', { detail: `No action configuration for ${actionCode}.` });
const noRule = (ruleId: string) => new SesameError('notFound', { detail: `No rule ${ruleId} in this action configuration.` });

type RulesDeps = Pick<Services, 'db' | 'config'>;

/** Audits a change with the tenant and its server's address. */
async function audit(s: RulesDeps, ctx: Context, type: string, what: string) {
  await recordAudit(s.db, { type: `actions.${type}`, clientId: tenantOf(ctx), ip: requesterIp(ctx), reason: what });
}

/** Changes this request's configuration; 404 when it has none. */
function change(s: RulesDeps, ctx: Context, mutate: (current: ActionPolicy) => ActionPolicy | null) {
  const actionCode = actionCodeOf(ctx);
  return changeConfiguration(s.db, tenantOf(ctx), actionCode, (current) => {
    if (!current) throw missing(actionCode);
    return mutate(current);
  });
}

type Guard = ReturnType<typeof guards>;
const guards = (s: RulesDeps) => [serverApiErrors, noStore, tenantAuth(s)] as const;
const json = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });

function configurationRoutes(router: Router, s: RulesDeps, guard: Guard): void {
  router.get('/', ...guard, async function listActionConfigurations(ctx) {
    const tenantId = tenantOf(ctx);
    ctx.body = (await listConfigurations(s.db, tenantId)).map((c) => configurationView(tenantId, c.actionCode, c.policy));
  });

  router.post('/', ...guard, json, async function createActionConfiguration(ctx) {
    const input = parseBody(configurationInput, ctx.request.body);
    if (!input.actionCode) throw new SesameError('invalidRequest', { detail: 'actionCode: required' });
    const actionCode = input.actionCode;
    const policy = await changeConfiguration(s.db, tenantOf(ctx), actionCode, (current) => {
      if (current) throw new SesameError('conflict', { detail: `An action configuration for ${actionCode} exists.` });
      return applyConfiguration(null, input);
    });
    await audit(s, ctx, 'configuration.created', actionCode);
    ctx.status = 201;
    ctx.body = configurationView(tenantOf(ctx), actionCode, policy!);
  });

  router.get('/:actionCode', ...guard, async function getActionConfiguration(ctx) {
    const actionCode = actionCodeOf(ctx);
    const policy = await readConfiguration(s.db, tenantOf(ctx), actionCode);
    if (!policy) throw missing(actionCode);
    ctx.body = configurationView(tenantOf(ctx), actionCode, policy);
  });

  router.patch('/:actionCode', ...guard, json, async function updateActionConfiguration(ctx) {
    const input = parseBody(configurationInput, ctx.request.body);
    const actionCode = actionCodeOf(ctx);
    if (input.actionCode && input.actionCode !== actionCode) throw new SesameError('invalidRequest', { detail: 'actionCode: differs from the path' });
    const policy = await change(s, ctx, (current) => applyConfiguration(current, input));
    await audit(s, ctx, 'configuration.updated', actionCode);
    ctx.body = configurationView(tenantOf(ctx), actionCode, policy!);
  });

  router.delete('/:actionCode', ...guard, async function deleteActionConfiguration(ctx) {
    const actionCode = actionCodeOf(ctx);
    await change(s, ctx, () => null);
    await audit(s, ctx, 'configuration.deleted', actionCode);
    ctx.body = { tenantId: tenantOf(ctx), actionCode, deleted: true };
  });
}

function ruleRoutes(router: Router, s: RulesDeps, guard: Guard): void {
  async function rulesOf(ctx: Context) {
    const actionCode = actionCodeOf(ctx);
    const policy = await readConfiguration(s.db, tenantOf(ctx), actionCode);
    if (!policy) throw missing(actionCode);
    return { actionCode, rules: policy.rules };
  }

  router.get('/:actionCode/rules', ...guard, async function listRules(ctx) {
    const { actionCode, rules } = await rulesOf(ctx);
    ctx.body = rules.map((rule) => ruleView(tenantOf(ctx), actionCode, rule));
  });

  router.post('/:actionCode/rules', ...guard, json, async function createRule(ctx) {
    const rule = applyRule(undefined, parseBody(ruleInput, ctx.request.body));
    await change(s, ctx, (current) => ({ ...current, rules: [...current.rules, rule] }));
    await audit(s, ctx, 'rule.created', `${actionCodeOf(ctx)} ${rule.ruleId}`);
    ctx.status = 201;
    ctx.body = ruleView(tenantOf(ctx), actionCodeOf(ctx), rule);
  });

  router.get('/:actionCode/rules/:ruleId', ...guard, async function getRule(ctx) {
    const { actionCode, rules } = await rulesOf(ctx);
    const rule = rules.find((r) => r.ruleId === ctx.params.ruleId);
    if (!rule) throw noRule(ctx.params.ruleId!);
    ctx.body = ruleView(tenantOf(ctx), actionCode, rule);
  });

  router.patch('/:actionCode/rules/:ruleId', ...guard, json, async function updateRule(ctx) {
    const input = parseBody(ruleInput, ctx.request.body);
    const ruleId = ctx.params.ruleId!;
    let updated: Rule | undefined;
    await change(s, ctx, (current) => {
      const before = current.rules.find((r) => r.ruleId === ruleId);
      if (!before) throw noRule(ruleId);
      updated = applyRule(before, input);
      return { ...current, rules: current.rules.map((r) => (r.ruleId === ruleId ? updated! : r)) };
    });
    await audit(s, ctx, 'rule.updated', `${actionCodeOf(ctx)} ${ruleId}`);
    ctx.body = ruleView(tenantOf(ctx), actionCodeOf(ctx), updated!);
  });

  router.delete('/:actionCode/rules/:ruleId', ...guard, async function deleteRule(ctx) {
    const ruleId = ctx.params.ruleId!;
    await change(s, ctx, (current) => {
      if (!current.rules.some((r) => r.ruleId === ruleId)) throw noRule(ruleId);
      return { ...current, rules: current.rules.filter((r) => r.ruleId !== ruleId) };
    });
    await audit(s, ctx, 'rule.deleted', `${actionCodeOf(ctx)} ${ruleId}`);
    ctx.body = { tenantId: tenantOf(ctx), actionCode: actionCodeOf(ctx), ruleId, deleted: true };
  });
}

export function authsignalRulesRouter(s: RulesDeps): Router {
  const router = new Router({ prefix: '/v1/management/action-configurations' });
  const guard = guards(s);
  configurationRoutes(router, s, guard);
  ruleRoutes(router, s, guard);
  return router;
}
