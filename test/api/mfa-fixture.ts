// The Auth0 MFA API tests' Sesame (HTTPS, an Auth0-style issuer, email and SMS connections with a
// Twilio-like server, clients whose mfa_policy is `always`) and their steps through @auth0/auth0-auth-js.
import { AuthClient, isMfaRequiredError } from '@auth0/auth0-auth-js';
import { Secret, TOTP } from 'otpauth';
import { expect } from 'vitest';
import type { Engine } from '../helpers/databases.js';
import { smsCode, startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { CALLBACK, OTP, WEB_ORIGIN } from './fixture.js';

export const MFA_GRANTS = ['http://auth0.com/oauth/grant-type/mfa-otp', 'http://auth0.com/oauth/grant-type/mfa-oob', 'http://auth0.com/oauth/grant-type/mfa-recovery-code'];
export const GRANTS = ['authorization_code', 'refresh_token', OTP, ...MFA_GRANTS];
export const SECRET = 'mfa-app-secret-mfa-app-secret-mfa-app';
export const API = 'https://api.example';
export const SCOPE = 'openid email offline_access';
export const MFA_ACR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
export const RECOVERY_CODE = /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/;

const fixture = {
  clients: [
    { client_id: 'app', client_secret: SECRET, redirect_uris: [CALLBACK], grant_types: GRANTS, mfa_policy: 'always', trust_forwarded_for: true },
    { client_id: 'other', client_secret: `${SECRET}-other`, redirect_uris: [CALLBACK], grant_types: GRANTS, mfa_policy: 'always' },
    {
      client_id: 'spa',
      token_endpoint_auth_method: 'none',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', OTP, ...MFA_GRANTS],
      web_origins: [WEB_ORIGIN],
      mfa_policy: 'always',
    },
  ],
  apis: [{ identifier: API, scopes: ['read'] }],
  codes: { resendCooldown: 1, sendsPerHour: 50, freeFailures: 3 },
  rateLimits: { sendsPerIpPerHour: 500 },
  passkeys: { offerEnrolment: false },
};

export type MfaRequired = { mfa_token: string; mfa_requirements: unknown };

/** What auth-js surfaces for an error answer: its class, the status, Auth0's body as `cause`. */
export function sdkError(type: { name: string }, statusCode: number, error: string, error_description: string) {
  return expect.objectContaining({ name: type.name, statusCode, message: error_description, cause: expect.objectContaining({ error, error_description }) });
}

/** A code of the authenticator app with `secret`, `steps` 30-second steps from now (each step works once, in order). */
export const totp = (secret: string, steps = 0) => new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + steps * 30_000 });

/** A code other than `code`, of its length. */
export const wrongCode = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, '0');

/** The rejection of `promise`, or a failure when it resolved. */
export const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );

export interface MfaApi {
  t: TestSesame;
  twilio: FakeTwilio;
  domain: string;
  app: AuthClient;
  other: AuthClient;
  nextEmail(): string;
  /** The app's client sending as the end user's network (auth0-forwarded-for; the client is trusted with it). */
  fromNetwork(ip: string): AuthClient;
  /** A code sign-in by email whose answer is `mfa_required`: its body. */
  firstFactor(email: string, client?: AuthClient, options?: { scope?: string; audience?: string }): Promise<MfaRequired>;
  /** The same by SMS (a code from the Twilio-like server). */
  smsFirstFactor(phone: string, options?: { scope?: string; audience?: string }): Promise<MfaRequired>;
  /** A new user with a confirmed authenticator app (confirmed at step -1: steps 0 and +1 are left for the test). */
  enrolledUser(): Promise<{ email: string; secret: string; recoveryCodes: string[] }>;
  userId(email: string): Promise<string>;
  stop(): Promise<void>;
}

/** `extra`: more clients, and settings added to the fixture's (the risk tests' policies). */
export async function startMfaApi(engine: Engine, extra: { clients?: object[]; [setting: string]: unknown } = {}): Promise<MfaApi> {
  const twilio = await startFakeTwilio();
  const port = await freePort();
  const domain = `localhost:${port}`;
  const connections = [
    { id: 'email', type: 'email' },
    { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: twilio.provider(), sendsPerIpPerHour: 100 },
  ];
  const clients = [...fixture.clients, ...(extra.clients ?? [])];
  const t = await startTestSesame(engine, { ...fixture, ...extra, clients, connections, port, issuer: `https://${domain}/` }, { tls: true });
  const app = new AuthClient({ domain, clientId: 'app', clientSecret: SECRET });
  let n = 0;
  const nextEmail = () => `mfa${++n}-${engine}@example.com`;

  async function firstFactor(email: string, client = app, options: { scope?: string; audience?: string } = {}): Promise<MfaRequired> {
    // The resend cooldown (1 s) separates two sign-ins of one user.
    const sent = () =>
      client.passwordless.sendEmail({ email }).then(
        () => true,
        () => false,
      );
    await waitFor(sent, { interval: 500, what: 'a code sent' });
    const code = codeFrom(await t.mail.next(email));
    const err = await rejection(client.getTokenByPasswordlessEmail({ email, code, scope: options.scope ?? SCOPE, audience: options.audience ?? API }));
    expect(isMfaRequiredError(err)).toBe(true);
    expect(err).toMatchObject({ statusCode: 403, cause: { error: 'mfa_required', error_description: 'Multifactor authentication required' } });
    return (err as { cause: MfaRequired }).cause;
  }

  async function smsFirstFactor(phone: string, options: { scope?: string; audience?: string } = {}): Promise<MfaRequired> {
    const sent = () =>
      app.passwordless.sendSms({ phoneNumber: phone }).then(
        () => true,
        () => false,
      );
    await waitFor(sent, { interval: 500, what: 'a text sent' });
    const code = smsCode(await twilio.next(phone));
    const err = await rejection(
      app.getTokenByPasswordlessSms({ phoneNumber: phone, code, scope: options.scope ?? 'openid phone', ...(options.audience && { audience: options.audience }) }),
    );
    expect(isMfaRequiredError(err)).toBe(true);
    return (err as { cause: MfaRequired }).cause;
  }

  return {
    t,
    twilio,
    smsFirstFactor,
    domain,
    app,
    other: new AuthClient({ domain, clientId: 'other', clientSecret: `${SECRET}-other` }),
    nextEmail,
    fromNetwork: (ip) =>
      new AuthClient({
        domain,
        clientId: 'app',
        clientSecret: SECRET,
        customFetch: (url, init) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), 'auth0-forwarded-for': ip } }),
      }),
    firstFactor,
    async enrolledUser() {
      const email = nextEmail();
      const { mfa_token } = await firstFactor(email);
      const { secret, recoveryCodes } = (await app.mfa.enrollAuthenticator({ authenticatorTypes: ['otp'], mfaToken: mfa_token })) as { secret: string; recoveryCodes: string[] };
      await app.mfa.verify({ mfaToken: mfa_token, factorType: 'otp', otp: totp(secret, -1) });
      return { email, secret, recoveryCodes };
    },
    async userId(email) {
      return (await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } })).id;
    },
    async stop() {
      await t.stop();
      await twilio.close();
    },
  };
}
