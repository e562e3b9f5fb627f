// The risk engine under load (issue 16 item 6, issue 18 item 6): `actions_track`, the actions API's
// track (POST /v1/users/{userId}/actions/{action}) for many users, addresses, browsers and devices
// against a ten-rule policy, and `code_flow_risk`, the hosted sign-in of code_flow through a second
// bench client (bench-risk) given a ten-rule sign-in policy that reads every kind of fact and still
// ends ALLOW. Both policies are their client's own, set through the rules API (with the tenant secret
// key from `sesame actions secret`) before the scenario's warm-up and deleted after its rounds, so
// the other scenarios on the same server run without a policy, as before. code_flow runs again in
// rounds alternating with code_flow_risk's on the same server: the slowdown is measured in like conditions.
import type { Check, Row } from './report.js';
import { labelOf } from './report.js';
import type { Measurement, Scenario } from './scenarios.js';
import { CLIENT, RISK_CLIENT, type Target } from './targets.js';

/** Registered in scenarios.ts: code_flow_risk right after code_flow, so that the two run in like conditions. */
export const ACTIONS = ['code_flow_risk', 'actions_track'] as const;
/** The sign-in loops (code_flow, code_flow_risk), not autocannon. */
export const signsIn = (scenario: string): scenario is `code_flow${string}` => scenario.startsWith('code_flow');

/** The action code actions_track tracks. */
export const TRACK_ACTION = 'bench-transfer';
/** The action the bench client's sign-ins are decided as (its `risk_action`, by default). */
const SIGN_IN_ACTION = 'signIn';

/**
 * The targets for actions_track. A risk decision sits in the hot path of a payment or a sign-in:
 * risk services (Authsignal, Castle, Sift-like) are called with a budget of 50-100 ms for the
 * decision, and card processors allow a fraud check 150-300 ms at p99. Here `connections` tracks are
 * in flight on one server and each waits behind the others (a closed loop: latency is connections
 * over throughput), so the targets scale with them: p50 within connections × 2 ms and p99 within
 * connections × 5 ms, 100 ms and 250 ms at the default 50, the budgets above. In server time that is
 * a track (facts, ten rules, stored decision, answer) in 2 ms typically and 5 ms at worst: "rule
 * evaluation adds at most a few milliseconds" (issue 16).
 */
export const TRACK_MS_BUDGET = 5;
export const TRACK_P50_MS_BUDGET = 2;
/** code_flow_risk against code_flow in the same run: at most 10 % slower (issue 18). */
export const RISK_SLOWDOWN = 1.1;

export interface RuleInput {
  name: string;
  type: 'ALLOW' | 'CHALLENGE' | 'REVIEW' | 'BLOCK';
  conditions: unknown;
}

const v = (name: string) => ({ var: name });
/** Cloud hosting networks (AWS, DigitalOcean, Hetzner, OVH, Google Cloud): scripted traffic more often than people. */
const HOSTING_ASNS = [16509, 14618, 14061, 24940, 16276, 396982];
const HOME_COUNTRIES = ['FR', 'DE', 'BE', 'NL', 'ES', 'IT', 'GB', 'US'];

/**
 * A payments app's rules for a transfer: all ten kinds of fact (addresses' country and network,
 * devices, velocity, the email domain, the browser, the app's own attributes), ending in every
 * outcome for some of the bench's users. The first matching rule by priority decides; all are evaluated.
 */
export const TRACK_RULES: RuleInput[] = [
  { name: 'Bots', type: 'BLOCK', conditions: v('userAgent.isBot') },
  { name: 'Disposable email', type: 'BLOCK', conditions: v('email.isDisposable') },
  { name: 'Sanctioned countries', type: 'BLOCK', conditions: { in: [v('ip.country'), ['KP', 'IR', 'SY', 'CU']] } },
  { name: 'Busy address', type: 'REVIEW', conditions: { '>': [v('ip.actionCount.1h'), 30] } },
  { name: 'Busy user', type: 'CHALLENGE', conditions: { '>': [v('user.actionCount.1h'), 10] } },
  { name: 'Hosting network', type: 'CHALLENGE', conditions: { in: [v('ip.asn'), HOSTING_ASNS] } },
  { name: 'Big transfer, new device', type: 'CHALLENGE', conditions: { and: [v('device.isNew'), { '>': [v('custom.amount'), 500] }] } },
  { name: 'Abroad', type: 'CHALLENGE', conditions: { and: [{ '!': { in: [v('ip.country'), HOME_COUNTRIES] } }, { '>': [v('custom.amount'), 200] }] } },
  { name: 'Young account', type: 'REVIEW', conditions: { and: [{ '<': [v('custom.accountAgeDays'), 3] }, { '>': [v('custom.amount'), 100] }] } },
  { name: 'Business on a known device', type: 'ALLOW', conditions: { and: [{ '==': [v('custom.plan'), 'business'] }, { '!': v('device.isNew') }] } },
];

/**
 * Sign-in rules that read what a sign-in policy reads and match none of the bench's sign-ins (a
 * browser with an email code, one sign-in per user, from 127.0.0.1), so every sign-in is decided
 * ALLOW after all ten are evaluated. The address thresholds are high because every bench sign-in
 * comes from one address, as an office behind one NAT would.
 */
export const SIGN_IN_RULES: RuleInput[] = [
  { name: 'Bots', type: 'BLOCK', conditions: v('userAgent.isBot') },
  { name: 'Disposable email', type: 'BLOCK', conditions: v('email.isDisposable') },
  { name: 'Anonymous network', type: 'BLOCK', conditions: v('ip.isAnonymous') },
  { name: 'Impossible travel', type: 'BLOCK', conditions: v('travel.isImpossible') },
  { name: 'Sanctioned countries', type: 'BLOCK', conditions: { in: [v('ip.country'), ['KP', 'IR', 'SY', 'CU']] } },
  { name: 'Hosting network', type: 'CHALLENGE', conditions: { in: [v('ip.asn'), HOSTING_ASNS] } },
  { name: 'Busy user', type: 'CHALLENGE', conditions: { '>': [v('user.actionCount.1h'), 20] } },
  { name: 'Busy address', type: 'REVIEW', conditions: { '>': [v('ip.actionCount.1h'), 1_000_000] } },
  { name: 'SMS on a new device', type: 'CHALLENGE', conditions: { and: [v('device.isNew'), { '==': [v('signIn.method'), 'SMS'] }] } },
  { name: 'Unenrolled staff', type: 'CHALLENGE', conditions: { and: [{ '==': [v('email.domain'), 'staff.bench.test'] }, { '!': v('user.isEnrolled') }] } },
];

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
];
/** Users tracked: each gets a few actions per run, so velocity and device history build up. */
export const TRACK_USERS = 2000;

/** A public-looking IPv4 address per user and device: users move between two addresses. */
function addressOf(user: number, device: number): string {
  const k = user * 2 + device;
  return `${(k * 37) % 223 || 1}.${(k * 11) % 256}.${(k * 7 + device) % 256}.${(k % 254) + 1}`;
}

/** The body of the `i`th track: which user, from where, with what, for how much. */
export function trackBody(i: number): { userId: string; body: Record<string, unknown> } {
  const user = (i * 7919) % TRACK_USERS; // a prime stride: consecutive requests are other users
  const device = Math.floor(i / TRACK_USERS) % 2;
  return {
    userId: `user-${user}`,
    body: {
      ipAddress: addressOf(user, device),
      userAgent: BROWSERS[user % BROWSERS.length],
      deviceId: `device-${user}-${device}`,
      email: `user-${user}@${user % 50 === 0 ? 'mailinator.com' : 'example.com'}`,
      redirectUrl: 'https://shop.bench.example/done',
      custom: { amount: (user * 13) % 1000, accountAgeDays: user % 30, plan: user % 3 === 0 ? 'business' : 'personal' },
    },
  };
}

/** Tenant secret keys by target URL and client, from `sesame actions secret <client> --json` (a new one retires the last). */
const secrets = new Map<string, string>();
const secretKey = (target: Target, tenant: string) => `${target.url} ${tenant}`;

const basic = (secret: string) => `Basic ${Buffer.from(`${secret}:`).toString('base64')}`;

/**
 * Tracks sent so far to each server (by URL), over every connection: each request tracks the next
 * user. One count per server, as with --workers 1,2 a shared one dealt each server other users, and
 * so other velocities and device histories for the rules, than a run with one server would.
 */
const tracks = new Map<string, number>();

/** A track request in autocannon's shape (scenarios.ts cannon). */
export function trackRequest(target: Target) {
  const secret = secrets.get(secretKey(target, CLIENT.client_id));
  if (!secret) throw new Error('actions_track runs after policyOn, which fetches the tenant secret key');
  return {
    method: 'POST',
    path: '/v1',
    headers: { authorization: basic(secret), 'content-type': 'application/json' },
    setupRequest<R extends object>(r: R): R {
      const sent = tracks.get(target.url) ?? 0;
      tracks.set(target.url, sent + 1);
      const { userId, body } = trackBody(sent);
      return { ...r, path: `/v1/users/${userId}/actions/${TRACK_ACTION}`, body: JSON.stringify(body) };
    },
  };
}

async function api(target: Target, secret: string, method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(new URL(path.startsWith('/v1') ? path : `/v1/management/action-configurations${path}`, target.url), {
    method,
    headers: { authorization: basic(secret), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) throw new Error(`${method} ${path || '/'} answered ${response.status}: ${await response.text()}`);
}

/** The bench client's own policy for `actionCode` through the rules API: ALLOW unless a rule matches. */
async function setPolicy(target: Target, secret: string, actionCode: string, rules: RuleInput[]): Promise<void> {
  await api(target, secret, 'POST', '', { actionCode, defaultUserActionResult: 'ALLOW' });
  for (const [priority, rule] of rules.entries()) await api(target, secret, 'POST', `/${actionCode}/rules`, { ...rule, priority, isActive: true });
}

/** The user of the one track that loads the rules' data before the warm-up. */
const PRIME_USER = 'bench-prime';

/** Each scenario's policy: the tenant (client) it belongs to, its action and its rules. */
const POLICIES: Partial<Record<Scenario, { tenant: string; action: string; rules: RuleInput[] }>> = {
  actions_track: { tenant: CLIENT.client_id, action: TRACK_ACTION, rules: TRACK_RULES },
  code_flow_risk: { tenant: RISK_CLIENT.client_id, action: SIGN_IN_ACTION, rules: SIGN_IN_RULES },
};

/** code_flow_risk measured against code_flow on one server: both are its sides, their rounds alternate (run.ts). */
export const PLAIN_OF: Partial<Record<Scenario, Scenario>> = { code_flow_risk: 'code_flow' };

/** Puts a scenario's policy in place on a target before its warm-up (nothing for the scenarios without one). */
export async function policyOn(target: Target, scenario: Scenario): Promise<void> {
  const policy = POLICIES[scenario];
  if (!policy) return;
  if (!target.cli) throw new Error(`${scenario} needs Sesame`);
  let secret = secrets.get(secretKey(target, policy.tenant));
  if (!secret) {
    secret = (JSON.parse(await target.cli(['actions', 'secret', policy.tenant, '--json'])) as { secretKey: string }).secretKey;
    secrets.set(secretKey(target, policy.tenant), secret);
  }
  await setPolicy(target, secret, policy.action, policy.rules);
  // The data the rules read is loaded by the first decision that needs it (the ASN ranges take
  // seconds, the disposable domains and the country database less): once per server, not per
  // request, so one track before the warm-up keeps it out of the numbers.
  await api(target, secret, 'POST', `/v1/users/${PRIME_USER}/actions/${policy.action}`, trackBody(1).body);
}

/** After a scenario's rounds: checks that its policy decided what was measured, and removes the policy. */
export async function policyOff(target: Target, scenario: Scenario): Promise<void> {
  const policy = POLICIES[scenario];
  if (!policy) return;
  try {
    await checkDecided(target, policy.tenant, policy.action, policy.rules);
  } finally {
    await api(target, secrets.get(secretKey(target, policy.tenant))!, 'DELETE', `/${policy.action}`);
  }
}

/**
 * That the policy decided what was measured: the newest decisions (the operators' `sesame actions
 * list`) are of its action; for the sign-ins, all ALLOW, as a challenged sign-in would not finish.
 */
async function checkDecided(target: Target, tenant: string, actionCode: string, rules: RuleInput[]): Promise<void> {
  const { decisions } = JSON.parse(await target.cli!(['actions', 'list', '--tenant', tenant, '--json'])) as {
    decisions: { userId: string; actionCode: string; state: string }[];
  };
  const ours = decisions.filter((d) => d.actionCode === actionCode && d.userId !== PRIME_USER);
  if (!ours.length) throw new Error(`no decision of ${actionCode} was made under its ${rules.length}-rule policy`);
  if (rules === SIGN_IN_RULES && ours.some((d) => d.state !== 'ALLOW')) throw new Error(`sign-ins decided otherwise than ALLOW: ${JSON.stringify(ours)}`);
}

const ms = (n: number) => n.toFixed(0);
const keyOf = (x: { target: string; workers: number }) => `${x.target}×${x.workers}`;
/** Server CPU time per request (or sign-in), in ms: its share of a core over the requests per second. */
const cpuMs = (r: Measurement) => (r.rps > 0 ? ((r.cpu / 100) * 1000) / r.rps : NaN);

/** actions_track's targets, and code_flow_risk's slowdown against code_flow measured in its rounds on the same server. */
export function actionChecks(rows: Row[], plainRuns: Measurement[], connections: number): Check[] {
  const checks: Check[] = [];
  const max = TRACK_MS_BUDGET * connections;
  const max50 = TRACK_P50_MS_BUDGET * connections;
  for (const r of rows.filter((x) => x.scenario === 'actions_track')) {
    checks.push({
      pass: r.requests > 0 && r.p50 <= max50 && r.p99 <= max && r.errors + r.non2xx === 0,
      what: `actions_track on ${labelOf(r)}: ${ms(r.rps)} tracks/s, p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms, ${cpuMs(r).toFixed(1)} ms of server CPU each (target p50 <= ${max50} ms, p99 <= ${max} ms: ${TRACK_P50_MS_BUDGET} and ${TRACK_MS_BUDGET} ms × ${connections} connections)`,
    });
  }
  for (const risk of rows.filter((x) => x.scenario === 'code_flow_risk')) {
    const plain = plainRuns.find((x) => x.scenario === 'code_flow' && keyOf(x) === keyOf(risk));
    if (!plain) continue;
    const slowdown = risk.rps > 0 ? plain.rps / risk.rps : Infinity;
    const percent = (x: number) => `${Math.abs((x - 1) * 100).toFixed(0)} % ${x < 1 ? 'faster' : 'slower'}`;
    const each = (m: Measurement) => `${m.rps.toFixed(1)} sign-ins/s, p50 ${ms(m.p50)} ms, ${cpuMs(m).toFixed(1)} ms of server CPU each`;
    checks.push({
      pass: slowdown <= RISK_SLOWDOWN && risk.errors + risk.non2xx + plain.errors + plain.non2xx === 0,
      what:
        `code_flow_risk vs code_flow on ${labelOf(risk)}: ${percent(slowdown)} with the ten-rule policy (target at most ${percent(RISK_SLOWDOWN)}, no error); ` +
        `with it ${each(risk)}; without (the code_flow row beside it, rounds alternating) ${each(plain)}`,
    });
  }
  return checks;
}
