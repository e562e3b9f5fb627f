// The API risk tests' Sesame: the MFA API fixture (HTTPS, Auth0-style issuer, @auth0/auth0-auth-js)
// plus a client `gated` whose sign-ins are the action `gate`, decided by the requester address its
// backend forwards (auth0-forwarded-for, trusted), a management client, and the review webhook.
import { AuthClient } from '@auth0/auth0-auth-js';
import type { Engine } from '../helpers/databases.js';
import { smsCode } from '../helpers/fake-twilio.js';
import type { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { CALLBACK } from './fixture.js';
import { API, GRANTS, SCOPE, SECRET, rejection, startMfaApi, type MfaApi } from './mfa-fixture.js';

const WEBAUTHN = 'urn:okta:params:oauth:grant-type:webauthn';
export const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
export const HOOK_SECRET = 'review-secret-review-secret-review-secret';
/** Addresses the policy reads: each names what it asks. */
export const IP = {
  app: '203.0.113.10',
  recovery: '203.0.113.11',
  appOrRecovery: '203.0.113.12',
  passkey: '203.0.113.13',
  review: '203.0.113.20',
  review2: '203.0.113.21',
  fine: '198.51.100.30',
} as const;

const challenge = (ruleId: string, ip: string, verificationMethods: string[]) => ({
  ruleId,
  name: ruleId,
  type: 'CHALLENGE',
  verificationMethods,
  conditions: { '==': [{ var: 'ip.address' }, ip] },
});

export const GATE = {
  defaultOutcome: 'ALLOW',
  rules: [
    challenge('app-only', IP.app, ['AUTHENTICATOR_APP']),
    challenge('recovery-only', IP.recovery, ['RECOVERY_CODE']),
    challenge('app-or-recovery', IP.appOrRecovery, ['AUTHENTICATOR_APP', 'RECOVERY_CODE']),
    challenge('passkey-only', IP.passkey, ['PASSKEY']),
    { ruleId: 'odd-ip', name: 'Odd address', type: 'REVIEW', conditions: { in: [{ var: 'ip.address' }, [IP.review, IP.review2]] } },
  ],
};

export async function startRiskApi(engine: Engine, hookUrl?: string): Promise<MfaApi> {
  return startMfaApi(engine, {
    clients: [
      { client_id: 'gated', client_secret: SECRET, redirect_uris: [CALLBACK], grant_types: [...GRANTS, WEBAUTHN], trust_forwarded_for: true, risk_action: 'gate' },
      { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    ],
    actions: { policies: { gate: GATE }, ...(hookUrl && { reviewWebhook: { url: hookUrl, secret: HOOK_SECRET } }) },
  });
}

/** The `gated` client's backend, forwarding the end user's address `ip`. */
export function gatedAt(api: MfaApi, ip: string): AuthClient {
  return new AuthClient({
    domain: api.domain,
    clientId: 'gated',
    clientSecret: SECRET,
    customFetch: (url, init) => fetch(url, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers)), 'auth0-forwarded-for': ip } }),
  });
}

/** What a sign-in came to: the ID token's `sub`, or the refusal's status and body (the members of Auth0's body the SDK keeps). */
export type Outcome = { sub: string } | { status: number; body: unknown };

function outcome(redeem: Promise<{ claims?: { sub?: string } }>): Promise<Outcome> {
  return redeem.then(
    (tokens) => ({ sub: String(tokens.claims?.sub) }),
    (error: { statusCode?: number; cause?: Record<string, unknown> }) => {
      if (error.statusCode === undefined || !error.cause) throw error as Error;
      const { error: code, error_description, mfa_token, mfa_requirements } = error.cause;
      const body = Object.fromEntries(Object.entries({ error: code, error_description, mfa_token, mfa_requirements }).filter(([, v]) => v !== undefined));
      return { status: error.statusCode, body };
    },
  );
}

/** An email code sent by `gated` for the end user at `ip`, then a function redeeming it with the OTP grant. */
export async function gatedEmailCode(api: MfaApi, email: string, ip: string): Promise<() => Promise<Outcome>> {
  const client = gatedAt(api, ip);
  const sent = () => client.passwordless.sendEmail({ email }).then(() => true, () => false); // prettier-ignore
  await waitFor(sent, { interval: 500, what: 'a code sent' });
  const code = codeFrom(await api.t.mail.next(email));
  return () => outcome(client.getTokenByPasswordlessEmail({ email, code, scope: SCOPE, audience: API }));
}

/** The same by SMS. */
export async function gatedSmsCode(api: MfaApi, phone: string, ip: string): Promise<() => Promise<Outcome>> {
  const client = gatedAt(api, ip);
  const sent = () => client.passwordless.sendSms({ phoneNumber: phone }).then(() => true, () => false); // prettier-ignore
  await waitFor(sent, { interval: 500, what: 'a text sent' });
  const code = smsCode(await api.twilio.next(phone));
  return () => outcome(client.getTokenByPasswordlessSms({ phoneNumber: phone, code, scope: 'openid' }));
}

/** A passkey sign-up to `gated` from `ip` through auth-js (the ceremony by `device`). */
export async function gatedPasskeySignUp(api: MfaApi, device: SoftAuthenticator, email: string, ip: string): Promise<Outcome> {
  const client = gatedAt(api, ip);
  const challenge = await client.passkey.register({ email, name: 'Pat' });
  const credential = device.register(challenge.authnParamsPublicKey as never);
  return outcome(client.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: credential as never, scope: 'openid' }));
}

/** A passkey sign-in to `gated` from `ip` through auth-js. */
export async function gatedPasskeySignIn(api: MfaApi, device: SoftAuthenticator, ip: string): Promise<Outcome> {
  const client = gatedAt(api, ip);
  const challenge = await client.passkey.challenge();
  const credential = device.authenticate(challenge.authnParamsPublicKey as never);
  return outcome(client.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: credential as never, scope: 'openid' }));
}

/** An email code sign-in to `gated` from `ip`. */
export async function gatedSignIn(api: MfaApi, email: string, ip: string): Promise<Outcome> {
  return (await gatedEmailCode(api, email, ip))();
}

/** An SMS code sign-in to `gated` from `ip`: what the SDK threw (the tests expect a refusal). */
export async function gatedSmsSignIn(api: MfaApi, phone: string, ip: string) {
  const client = gatedAt(api, ip);
  const sent = () => client.passwordless.sendSms({ phoneNumber: phone }).then(() => true, () => false); // prettier-ignore
  await waitFor(sent, { interval: 500, what: 'a text sent' });
  const code = smsCode(await api.twilio.next(phone));
  return rejection(client.getTokenByPasswordlessSms({ phoneNumber: phone, code, scope: 'openid' })) as Promise<{ statusCode: number; cause: Record<string, unknown> }>;
}

/** A user signed in by SMS with a confirmed email factor (enrolled through the `app` client, whose policy is `always`). */
export async function smsUserWithEmailFactor(api: MfaApi, phone: string, email: string): Promise<string> {
  const first = await api.smsFirstFactor(phone);
  const enrolment = (await api.app.mfa.enrollAuthenticator({ authenticatorTypes: ['oob'], oobChannels: ['email'], email, mfaToken: first.mfa_token })) as { oobCode: string };
  await api.app.mfa.verify({ mfaToken: first.mfa_token, factorType: 'oob', oobCode: enrolment.oobCode, bindingCode: codeFrom(await api.t.mail.next(email)) });
  return (await api.t.sesame.services.db.prisma.user.findFirstOrThrow({ where: { phoneNumber: phone } })).id;
}
