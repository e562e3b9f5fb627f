// The one configuration schema: every setting, its default and its description live here.
// The README's settings table is generated from it (npm run docs:settings), so describe() is the doc.
import { z } from 'zod';
import { featuresSchema } from './features.js';
import { actionsSchema } from './actions.js';
import { MFA_POLICIES, mfaSchema } from './mfa.js';
import { passkeysSchema } from './passkeys.js';
import { metricsSchema } from './metrics.js';
import { supportedLocales } from '../i18n/i18n.js';

const seconds = (def: number, what: string) => z.number().int().positive().default(def).describe(what);

/** A relying party: oidc-provider client metadata plus Sesame's own keys. */
export const clientSchema = z
  .looseObject({
    client_id: z.string().min(1).describe('Client identifier.'),
    client_secret: z.string().min(16).optional().describe('Secret of a confidential client (16+ characters).'),
    redirect_uris: z.array(z.url()).default([]).describe('Exact redirect URIs.'),
    grant_types: z.array(z.string()).optional().describe('Grant types this client may use.'),
    first_party: z.boolean().default(false).describe('Trusted client of the operator: users are not asked for consent.'),
    web_origins: z.array(z.url()).default([]).describe('Browser origins allowed to call the API and token endpoint (CORS), as in Auth0.'),
    management_api: z
      .boolean()
      .default(false)
      .describe(
        'May obtain scopes of the management API (/api/v1) with client credentials (10-minute tokens): `admin` (all) or one per area, e.g. `users:read`. Only with `grant_types: ["client_credentials"]` and `response_types: []`: no user sign-in may reach that API.',
      ),
    userfront: z
      .boolean()
      .default(false)
      .describe('A Userfront tenant whose tenant id is its client_id: @userfront/core may call `/v0/tenants/{client_id}/auth/*`. Public, with the login-ticket grant.'),
    trust_forwarded_for: z.boolean().default(false).describe('Honour the auth0-forwarded-for header from this (authenticated) client.'),
    offer_passkeys: z
      .boolean()
      .optional()
      .describe('After a code or link sign-in, offer users without a passkey to create one (default true; with the global passkeys.offerEnrolment).'),
    mfa_policy: z.enum(MFA_POLICIES).optional().describe("This client's MFA policy (never, always, enrolled, adaptive) instead of the global mfa.policy."),
    risk_action: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/)
      .optional()
      .describe('The risk action (actions.policies) sign-ins to this client are decided as; default signIn. Without a policy for it, no decision is made.'),
  })
  .describe('oidc-provider client metadata plus Sesame keys.');

const apiSchema = z.strictObject({
  identifier: z.string().min(1).describe('Audience / resource indicator of the API.'),
  scopes: z.array(z.string()).default([]).describe('Scopes the API defines.'),
  accessTokenTtl: seconds(3600, 'Lifetime of JWT access tokens for this API, in seconds.'),
});

const webhookSchema = z
  .strictObject({
    type: z.literal('webhook'),
    url: z.url().describe('Receiver of the Userfront-shaped payload.'),
    secret: z.string().min(32).describe('HMAC-SHA256 key of the X-Sesame-Signature header.'),
  })
  .describe('Deliver codes and links by webhook instead of email (the operator sends them).');

const twilioSchema = z
  .strictObject({
    type: z.literal('twilio'),
    accountSid: z.string().min(1).describe('Twilio account SID (AC...).'),
    authToken: z.string().min(1).optional().describe('Auth token (or use apiKeySid + apiKeySecret).'),
    apiKeySid: z.string().min(1).optional().describe('API key SID (SK...).'),
    apiKeySecret: z.string().min(1).optional().describe('API key secret.'),
    from: z.string().min(1).optional().describe('Sender number or alphanumeric ID (or use messagingServiceSid).'),
    messagingServiceSid: z.string().min(1).optional().describe('Messaging service SID (MG...).'),
    baseUrl: z.url().default('https://api.twilio.com').describe('API base URL (override for tests).'),
  })
  .refine((t) => t.authToken || (t.apiKeySid && t.apiKeySecret), { message: 'twilio needs authToken, or apiKeySid and apiKeySecret' })
  .refine((t) => t.from || t.messagingServiceSid, { message: 'twilio needs from or messagingServiceSid' });

const gatewaySchema = z.strictObject({
  type: z.literal('http'),
  url: z.url().describe('Gateway endpoint.'),
  method: z.enum(['POST', 'PUT']).default('POST'),
  headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers (e.g. an API key).'),
  format: z.enum(['json', 'form']).default('json').describe('Body encoding.'),
  body: z.record(z.string(), z.string()).default({ to: '{{to}}', text: '{{text}}' }).describe('Body fields; {{to}}, {{text}} and {{messageId}} are replaced.'),
  secret: z.string().min(32).optional().describe('HMAC key of the X-Sesame-Signature header, as for webhooks.'),
});

const smsProviderSchema = z.union([twilioSchema, gatewaySchema, z.strictObject({ type: z.literal('capture') })]);

/** libphonenumber-js number types an SMS connection may accept (never PREMIUM_RATE or SHARED_COST). */
export const SMS_NUMBER_TYPES = ['MOBILE', 'FIXED_LINE_OR_MOBILE', 'FIXED_LINE', 'VOIP', 'PERSONAL_NUMBER', 'TOLL_FREE', 'PAGER', 'UAN', 'VOICEMAIL'] as const;

const smsConnectionSchema = z.strictObject({
  id: z.string().min(1).describe('Connection name (Auth0 `connection` and `realm`).'),
  type: z.literal('sms'),
  allowedCountries: z
    .array(z.string().regex(/^[A-Z]{2}$/, 'ISO 3166 alpha-2 code, like US'))
    .min(1, 'an SMS connection needs a country allow-list')
    .describe('Countries codes may be sent to (required: SMS costs money and invites pumping).'),
  defaultCountry: z
    .string()
    .regex(/^[A-Z]{2}$/)
    .optional()
    .describe('Country of numbers typed in national format.'),
  provider: smsProviderSchema.describe('twilio, http (generic gateway) or capture (dev outbox).'),
  numberTypes: z
    .array(z.enum(SMS_NUMBER_TYPES))
    .min(1)
    .default(['MOBILE', 'FIXED_LINE_OR_MOBILE'])
    .describe(
      'Kinds of numbers texts go to (libphonenumber types); others get a clear refusal. FIXED_LINE_OR_MOBILE is what most US and Canadian numbers are. Premium-rate and shared-cost numbers are never accepted.',
    ),
  sendsPerPrefixPerHour: z.number().int().positive().default(30).describe('Sends per number prefix (the first 6 digits of the E.164 number) per hour.'),
  sendsPerIpPerHour: z.number().int().positive().default(10).describe('SMS sends per client IP per hour.'),
  minConversion: z
    .number()
    .min(0)
    .max(1)
    .default(0.2)
    .describe(
      'Share of sent codes that must be verified over a day: below it, sends to a number prefix slow to one a minute per requester network, and a country is alerted on (never slowed).',
    ),
});

const externalConnectionSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[\w-]+$/)
    .describe('Connection name (the `connection` authorization parameter).'),
  type: z.literal('external'),
  name: z.string().min(1).describe('Button label on the sign-in page.'),
  authorizationUrl: z.url().describe("The operator's login UI; Sesame sends users there with state and redirect_uri."),
  accountId: z
    .string()
    .regex(/^[^.]+$/, 'no dots')
    .describe('Account id of the assertion audience `<accountId>.accounts.authress.io`, as in Authress access keys.'),
  trustEmails: z
    .boolean()
    .default(false)
    .describe(
      'Whether this connection proves the emails it asserts (keys made with --allow-profile): then a new account keeps the email as verified, and email sign-in of that address reaches it. Off: asserted emails are ignored (link accounts with `sesame users link`).',
    ),
});

const connectionSchema = z.discriminatedUnion('type', [
  z.strictObject({ id: z.string().min(1).describe('Connection name (Auth0 `connection` and `realm`).'), type: z.literal('email'), delivery: webhookSchema.optional() }),
  smsConnectionSchema,
  externalConnectionSchema,
]);

export type WebhookDelivery = z.infer<typeof webhookSchema>;
export type SmsConnection = z.infer<typeof smsConnectionSchema>;
export type ExternalConnection = z.infer<typeof externalConnectionSchema>;
export type SmsProvider = z.infer<typeof smsProviderSchema>;

export const configSchema = z.strictObject({
  issuer: z.url().optional().describe('Public issuer URL (env SESAME_ISSUER); default http://localhost:<port> (https with `tls`). May end in a slash.'),
  port: z.number().int().min(0).max(65535).default(3000).describe('Port to listen on (env PORT).'),
  host: z.string().default('0.0.0.0').describe('Interface to listen on.'),
  databaseUrl: z.string().default('file:./data/sesame.db').describe('file:... for SQLite, postgresql://... for PostgreSQL (env DATABASE_URL).'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (env LOG_LEVEL).'),
  tls: z
    .strictObject({
      certFile: z.string().min(1).describe('Serve HTTPS directly with this certificate (PEM). Usually TLS ends at a proxy instead.'),
      keyFile: z.string().min(1).describe('Private key (PEM) of tls.certFile.'),
    })
    .optional()
    .describe('Serve HTTPS directly with this certificate (PEM). Usually TLS ends at a proxy instead.'),
  workers: z
    .union([z.number().int().min(1).max(256), z.literal('auto')])
    .default(1)
    .describe('Processes `sesame serve` runs on one port (node:cluster); auto = one per CPU core (env SESAME_WORKERS, flag --workers).'),
  trustProxy: z
    .union([z.boolean(), z.number().int().min(0).max(10)])
    .default(false)
    .describe(
      'Proxies in front of Sesame whose X-Forwarded-* headers to honour (env TRUST_PROXY=1, 2...). The client IP is the address the outermost trusted proxy saw: the Nth X-Forwarded-For entry from the right, never one the client wrote. `true` means 1.',
    ),
  smtpUrl: z.string().optional().describe('nodemailer SMTP URL, e.g. smtp://127.0.0.1:2525 (env SMTP_URL). Without it mail is only captured.'),
  emailFrom: z.string().default('Sesame <no-reply@localhost>').describe('From address of emails (env EMAIL_FROM).'),
  devOutbox: z
    .boolean()
    .optional()
    .describe(
      'Serve /dev/outbox (messages with their codes) to loopback requesters only. Default: on when nothing is really delivered (no smtpUrl, webhook or SMS provider other than capture) outside production; refused with real delivery or in production.',
    ),
  features: featuresSchema,
  passkeys: passkeysSchema,
  mfa: mfaSchema,
  actions: actionsSchema,
  signUp: z.enum(['open', 'existing-only']).default('open').describe('open: first verified sign-in creates the user.'),
  clients: z.array(clientSchema).default([]).describe('Relying parties (more can be added with `sesame clients add`).'),
  apis: z.array(apiSchema).default([]).describe('Resource servers; their identifier is the audience of JWT access tokens.'),
  connections: z
    .array(connectionSchema)
    .default([{ id: 'email', type: 'email' }])
    .describe('Sign-in methods.'),
  codes: z
    .strictObject({
      length: z.number().int().min(6).max(10).default(6).describe('Digits in a one-time code.'),
      ttl: seconds(600, 'Lifetime of a code, in seconds.'),
      maxAttempts: z.number().int().min(1).max(10).default(5).describe('Tries per code.'),
      resendCooldown: seconds(30, 'Seconds between two sends to one identifier from one requester network (or trusted browser).'),
      sendsPerHour: z.number().int().positive().default(10).describe('Sends to one identifier per hour from one requester network (IPv4 /24, IPv6 /64) or trusted browser.'),
      sendsPerIdentifierPerHour: z
        .number()
        .int()
        .positive()
        .default(50)
        .describe('Sends to one identifier per hour from all requesters; past it each network still gets its first send of the hour.'),
      freeFailures: z
        .number()
        .int()
        .min(1)
        .default(5)
        .describe('Wrong codes per (identifier, requester network) across resends before delays start; each further one doubles the delay.'),
      maxFailureDelay: seconds(900, 'Longest delay after repeated failures of one (identifier, requester network), in seconds.'),
      failuresPerIdentifierPerDay: z
        .number()
        .int()
        .positive()
        .default(100)
        .describe('Wrong codes per identifier per day from all requesters (NIST SP 800-63B); past it only networks without failures and trusted browsers may try.'),
      trustedBrowserTtl: seconds(30 * 86400, 'How long a browser that signed in with a code on the hosted pages keeps its own limits for that identifier, in seconds.'),
    })
    .prefault({})
    .describe('One-time code policy.'),
  rateLimits: z
    .strictObject({
      sendsPerIpPerHour: z.number().int().positive().default(60).describe('Code sends per client IP per hour.'),
      verifiesPerIpPerMinute: z.number().int().positive().default(60).describe('Code checks per client IP per minute.'),
      sendsPerClientPerHour: z.number().int().positive().default(1000).describe('Passwordless API sends per client per hour.'),
      otpGrantsPerClientPerMinute: z.number().int().positive().default(600).describe('OTP grant requests per client per minute.'),
      publicSendsPerIpPerHour: z
        .number()
        .int()
        .positive()
        .default(10)
        .describe('Passwordless API sends per IP per hour for public clients (SPA, native), which cannot keep a secret.'),
    })
    .prefault({})
    .describe('Request limits.'),
  links: z
    .strictObject({
      loginTtl: seconds(3600, 'Lifetime of the sign-in link in the code email, in seconds.'),
      welcomeTtl: seconds(3 * 86400, 'Lifetime of welcome links (`sesame links create --type welcome`), in seconds.'),
      customMaxTtl: seconds(30 * 86400, 'Longest lifetime of a custom link, in seconds (the shortest is 10).'),
    })
    .prefault({})
    .describe('Magic links.'),
  tokens: z
    .strictObject({
      accessToken: seconds(3600, 'Access token lifetime, seconds.'),
      idToken: seconds(3600, 'ID token lifetime, seconds.'),
      refreshToken: seconds(14 * 86400, 'Refresh token lifetime, seconds.'),
      session: seconds(14 * 86400, 'Sign-in session lifetime, seconds.'),
      interaction: seconds(3600, 'Time to finish a sign-in page flow, seconds.'),
    })
    .prefault({})
    .describe('Token lifetimes.'),
  secrets: z
    .strictObject({
      cookieKeys: z.array(z.string().min(32)).min(1).optional().describe('Cookie signing keys, newest first. Generated and stored when absent.'),
      codeKeys: z.array(z.string().min(32)).min(1).optional().describe('HMAC keys for codes at rest, newest first. Generated and stored when absent.'),
      mfaKeys: z
        .array(z.string().min(32))
        .min(1)
        .optional()
        .describe(
          'Keys sealing second factors at rest (TOTP secrets, recovery codes), newest first; keep old ones while factors made under them live. Generated and stored when absent.',
        ),
    })
    .prefault({})
    .describe('Secrets.'),
  delivery: z
    .strictObject({
      maxAttempts: z.number().int().min(1).default(8).describe('Send attempts before a message is given up.'),
      pollInterval: z.number().int().positive().default(1000).describe('Worker poll interval, ms.'),
      retryDelay: z.number().positive().max(3600).default(5).describe('Seconds before the first retry of a failed send; each next retry waits twice as long (at most an hour).'),
    })
    .prefault({})
    .describe('Outbox worker.'),
  ui: z
    .strictObject({
      productName: z.string().default('Sesame').describe('Name shown on pages and emails.'),
      defaultLocale: z
        .enum(supportedLocales as [string, ...string[]])
        .default('en')
        .describe('Locale when neither ui_locales nor Accept-Language match.'),
      overridesDir: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Folder of operator overrides, read once at start: `locales/<lang>.json` replaces shipped message strings, `email/<name>.ejs` a shipped email template (see Branding). An unknown key, locale, placeholder or template stops the start.',
        ),
    })
    .prefault({})
    .describe('Hosted pages.'),
  http: z
    .strictObject({
      headersTimeout: seconds(20, 'Seconds a client has to send the request headers (Node headersTimeout); at most http.requestTimeout.'),
      requestTimeout: seconds(30, 'Seconds a client has to send a whole request, body included (Node requestTimeout); slower ones get 408 and are closed.'),
      maxConnections: z.number().int().positive().default(2000).describe('Open connections per process; further ones are closed at once (Node server.maxConnections).'),
    })
    .prefault({})
    .describe('Limits of the listening socket, for an internet-facing server.'),
  metrics: metricsSchema,
  audit: z
    .strictObject({
      retention: seconds(90 * 86400, 'Seconds audit events are kept; older rows are swept.'),
    })
    .prefault({})
    .describe('Audit log.'),
  sweepInterval: seconds(600, 'Seconds between sweeps of expired rows.'),
  keyCheckInterval: seconds(30, 'Seconds between checks for rotated signing keys (picked up without a restart).'),
});

export type Config = z.infer<typeof configSchema>;
export type ClientConfig = z.infer<typeof clientSchema>;
export type ApiConfig = z.infer<typeof apiSchema>;
