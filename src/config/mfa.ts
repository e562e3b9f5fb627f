// The `mfa` settings: when a sign-in needs a second factor (the policy, global and per client),
// which factors users may enrol, how long a browser may be remembered, how long an Auth0 mfa_token lives.
import { z } from 'zod';

/**
 * `never`: no second factor. `always`: every sign-in (users without a factor enrol one). `enrolled`:
 * users who have a second factor are challenged. `adaptive`: the risk decision of the sign-in says
 * (issue 16's actions; until a policy decides, it acts as `enrolled`).
 */
export const MFA_POLICIES = ['never', 'always', 'enrolled', 'adaptive'] as const;
export type MfaPolicy = (typeof MFA_POLICIES)[number];

/** The second factors Sesame has; a passkey satisfies MFA by itself (possession + user verification). */
export const FACTOR_TYPES = ['totp', 'sms', 'email', 'passkey', 'recovery-code'] as const;
export type FactorType = (typeof FACTOR_TYPES)[number];

export const mfaSchema = z
  .strictObject({
    policy: z
      .enum(MFA_POLICIES)
      .default('never')
      .describe(
        'When sign-ins need a second factor: never, always (users without one enrol), enrolled (users who have one), adaptive (the risk decision says). A client may set its own with mfa_policy.',
      ),
    factors: z
      .array(z.enum(FACTOR_TYPES))
      .min(1)
      .default([...FACTOR_TYPES])
      .describe('Second factors users may enrol and use: totp (authenticator apps), sms, email, passkey, recovery-code.'),
    rememberBrowserDays: z
      .number()
      .int()
      .min(0)
      .max(365)
      .default(0)
      .describe('Offer "remember this browser" after a second factor: this many days without one again (0: never remember).'),
    tokenTtl: z.number().int().min(60).max(3600).default(600).describe("Seconds an Auth0-style mfa_token (the MFA API's hand-over after the first factor) stays valid."),
  })
  .prefault({})
  .describe('Multi-factor authentication: a second factor after the first, on the hosted pages and through the Auth0 MFA API.');

export type MfaConfig = z.infer<typeof mfaSchema>;
