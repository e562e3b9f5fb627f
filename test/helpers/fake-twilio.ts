// A local stand-in for Twilio's Messages API (POST /2010-04-01/Accounts/{sid}/Messages.json): checks
// Basic auth (auth token or API key), the form fields To, From (or MessagingServiceSid) and Body,
// answers 201 with a Twilio-shaped message resource (or Twilio-shaped errors), and keeps every
// accepted message so tests can read codes from texts like they read them from mail (smtp.ts).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const TWILIO_ACCOUNT_SID = `AC${'5e'.repeat(16)}`;
export const TWILIO_AUTH_TOKEN = 'fake-twilio-auth-token-0123456789';
export const TWILIO_FROM = '+15005550006';

export interface TwilioMessage {
  sid: string;
  /** The Basic auth user (account SID or API key SID). */
  username: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
}

export interface FakeTwilioOptions {
  accountSid?: string;
  authToken?: string;
  /** Extra credentials (API key SID → secret). */
  apiKeys?: Record<string, string>;
}

/** Every request that reached the Messages resource with valid credentials, refused or not. */
export interface TwilioRequest {
  username: string;
  to: string | null;
  from: string | null;
  messagingServiceSid: string | null;
  body: string | null;
  contentType: string | undefined;
}

/** A Twilio error for one number; `{body}` and `{password}` in `message` are replaced (to check nothing echoes them). */
export interface TwilioError {
  code: number;
  message: string;
}

export interface FakeTwilio {
  /** Base URL, for the provider's `baseUrl`. */
  url: string;
  accountSid: string;
  authToken: string;
  /** Messages accepted (201), in order. */
  messages: TwilioMessage[];
  /** Requests refused (401, 404, 400, 429, 500), with the status and Twilio error code. */
  refused: Array<{ status: number; code: number; to: string | null }>;
  /** Every request that reached the Messages resource with valid credentials. */
  requests: TwilioRequest[];
  /** SIDs of the messages accepted (201). */
  accepted: string[];
  /** Numbers Twilio refuses with a 400, and how. */
  reject: Map<string, TwilioError>;
  /** Answer the next n requests with 500. */
  failNext: number;
  /** Answer the next n requests with 429. */
  throttleNext: number;
  /** Never answer (for timeouts). */
  hang: boolean;
  /** A provider block for an sms connection sending through this server. */
  provider(from?: string): { type: 'twilio'; accountSid: string; authToken: string; from: string; baseUrl: string };
  /** Resolves with the next message to `to` (or one already received and not taken yet). */
  next(to: string, timeoutMs?: number): Promise<TwilioMessage>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The Basic auth user and password of a request ('' when absent). */
function basicAuth(req: IncomingMessage): [string, string] {
  const [user = '', ...rest] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64')
    .toString()
    .split(':');
  return [user, rest.join(':')];
}

/** Twilio's message resource, as its 201 answer carries it. */
function messageResource(accountSid: string, message: TwilioMessage) {
  const now = new Date().toUTCString();
  return {
    account_sid: accountSid,
    api_version: '2010-04-01',
    body: message.body,
    date_created: now,
    date_sent: null,
    date_updated: now,
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: message.from,
    messaging_service_sid: message.messagingServiceSid,
    num_media: '0',
    num_segments: '1',
    price: null,
    price_unit: 'USD',
    sid: message.sid,
    status: message.messagingServiceSid && !message.from ? 'accepted' : 'queued',
    to: message.to,
    uri: `/2010-04-01/Accounts/${accountSid}/Messages/${message.sid}.json`,
  };
}

export async function startFakeTwilio(options: FakeTwilioOptions = {}): Promise<FakeTwilio> {
  const accountSid = options.accountSid ?? TWILIO_ACCOUNT_SID;
  const authToken = options.authToken ?? TWILIO_AUTH_TOKEN;
  const credentials = new Map<string, string>([[accountSid, authToken], ...Object.entries(options.apiKeys ?? {})]);
  const taken = new Set<TwilioMessage>();
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => void answer(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const twilio: FakeTwilio = {
    url,
    accountSid,
    authToken,
    messages: [],
    refused: [],
    requests: [],
    accepted: [],
    reject: new Map(),
    failNext: 0,
    throttleNext: 0,
    hang: false,
    provider: (from = TWILIO_FROM) => ({ type: 'twilio', accountSid, authToken, from, baseUrl: url }),
    next: (to, timeoutMs = 20_000) => nextMessage(to, timeoutMs),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  function fail(res: ServerResponse, status: number, code: number, message: string, to: string | null = null) {
    twilio.refused.push({ status, code, to });
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
  }

  // Node ignores what a request listener returns; a throw in `answer` still surfaces as an unhandled rejection.
  async function answer(req: IncomingMessage, res: ServerResponse) {
    const raw = await readBody(req);
    if (twilio.hang) return;
    const [user, password] = basicAuth(req);
    if (!user || credentials.get(user) !== password) return fail(res, 401, 20003, 'Authenticate');
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match || match[1] !== accountSid) return fail(res, 404, 20404, `The requested resource ${req.url} was not found`);
    const form = new URLSearchParams(raw);
    const seen: TwilioRequest = {
      username: user,
      to: form.get('To'),
      from: form.get('From'),
      messagingServiceSid: form.get('MessagingServiceSid'),
      body: form.get('Body'),
      contentType: req.headers['content-type'],
    };
    twilio.requests.push(seen);
    if (twilio.failNext > 0) {
      twilio.failNext--;
      return fail(res, 500, 20500, 'Internal Server Error', seen.to);
    }
    if (twilio.throttleNext > 0) {
      twilio.throttleNext--;
      return fail(res, 429, 20429, 'Too Many Requests', seen.to);
    }
    if (!/^application\/x-www-form-urlencoded\b/.test(seen.contentType ?? '')) return fail(res, 400, 20001, 'Unsupported content type');
    accept(res, seen, password);
  }

  /** Checks the fields like Twilio does, then keeps the message and answers 201. */
  function accept(res: ServerResponse, { to, from, messagingServiceSid, body, username }: TwilioRequest, password: string) {
    if (!to) return fail(res, 400, 21604, "A 'To' phone number is required.");
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return fail(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`, to);
    if (!from && !messagingServiceSid) return fail(res, 400, 21603, "A 'From' phone number is required.", to);
    if (!body) return fail(res, 400, 21602, 'Message body is required.', to);
    const rejected = twilio.reject.get(to);
    if (rejected) return fail(res, 400, rejected.code, rejected.message.replace('{body}', body).replace('{password}', password), to);
    const message: TwilioMessage = { sid: `SM${randomBytes(16).toString('hex')}`, username, to, from, messagingServiceSid, body };
    twilio.messages.push(message);
    twilio.accepted.push(message.sid);
    for (const wake of waiters.splice(0)) wake();
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(messageResource(accountSid, message)));
  }

  async function nextMessage(to: string, timeoutMs: number): Promise<TwilioMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = twilio.messages.find((m) => !taken.has(m) && m.to === to);
      if (found) {
        taken.add(found);
        return found;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SMS to ${to} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  return twilio;
}

/** The code of a sign-in text, from its WebOTP last line `@<host> #<code>` (the host is checked when given). */
export function smsCode(message: Pick<TwilioMessage, 'body'>, host?: string): string {
  const last = message.body.split('\n').at(-1) ?? '';
  const match = /^@(\S+) #(\d{6,10})$/.exec(last);
  if (!match) throw new Error(`no WebOTP line in SMS: ${JSON.stringify(last)}`);
  if (host !== undefined && match[1] !== host) throw new Error(`WebOTP line names ${match[1]}, expected ${host}`);
  return match[2]!;
}
