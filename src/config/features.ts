// The `features` switches: which compatibility surfaces run, and what each one owns (routes are
// mounted by app.ts, grants registered by oidc/provider.ts from GRANTS, both asking this file).
import { z } from 'zod';
import { relyingParty } from './passkeys.js';

/**
 * One switch: `enabled` (on by default, so a config without `features` runs every surface as
 * before), with the feature's own options beside it when it has some, as oidc-provider's `features.*`.
 */
const feature = (what: string) =>
  z
    .strictObject({
      enabled: z.boolean().default(true).describe(what),
    })
    .prefault({});

export const featuresSchema = z
  .strictObject({
    auth0Api: feature(
      'Auth0-compatible passwordless API: POST /passwordless/start, /passwordless/verify, /passwordless/verify_redirect, and the passwordless OTP grant (http://auth0.com/oauth/grant-type/passwordless/otp and its Sesame URN); with passkeys on, the passkey API (POST /passkey/register, /passkey/challenge) and its grant urn:okta:params:oauth:grant-type:webauthn; the MFA API (/mfa/authenticators, /mfa/associate, /mfa/challenge) and its grants http://auth0.com/oauth/grant-type/mfa-otp, mfa-oob and mfa-recovery-code.',
    ),
    userfront: feature(
      'Userfront-compatible API (/v0/tenants/{tenant}/auth/*, /v0/auth/refresh, /v0/auth/logout), the login-ticket grant it redeems, and clients with `userfront: true` (tenants).',
    ),
    management: feature(
      "Management API (/api/v1: links, clients, service clients, users' passkeys; its OpenAPI document at /api/v1/openapi.json) and clients with `management_api: true`.",
    ),
    authsignalApi: feature(
      "Authsignal-compatible actions API under /v1: the server API (HTTP Basic with a tenant's secret key), the client API /v1/client/* that @authsignal/browser calls, and the pre-built challenge page the track URL opens. Sesame's own sign-ins follow the actions policies whether it runs or not.",
    ),
    externalConnections: feature(
      'External connections (`connections` of type external): the hand-off from the sign-in page, /connections/{id}/callback and /api/v1/service-clients. Off: configuring one is an error.',
    ),
  })
  .prefault({})
  .describe('Surfaces that can be switched off: a disabled one has no routes, no grant at the token endpoint and no entry in discovery.');

export type Features = z.infer<typeof featuresSchema>;
export type FeatureName = keyof Features;

/**
 * The custom grant types each feature brings. The same URNs are exported by the grant modules in
 * oidc/grants/ (a layer above, which this file may not import); test/config/features.test.ts
 * checks the two lists agree.
 */
export const FEATURE_GRANT_TYPES: Readonly<Record<FeatureName, readonly string[]>> = {
  auth0Api: [
    'http://auth0.com/oauth/grant-type/passwordless/otp',
    'urn:sesame:params:oauth:grant-type:passwordless-otp',
    // Registered only where passkeys can work (oidc/grants/webauthn.ts `usable`).
    'urn:okta:params:oauth:grant-type:webauthn',
    // Auth0's MFA grants (oidc/grants/mfa.ts), with the MFA API (api/mfa.ts).
    'http://auth0.com/oauth/grant-type/mfa-otp',
    'http://auth0.com/oauth/grant-type/mfa-oob',
    'http://auth0.com/oauth/grant-type/mfa-recovery-code',
  ],
  userfront: ['urn:sesame:params:oauth:grant-type:login-ticket'],
  management: [],
  authsignalApi: [],
  externalConnections: [],
};

/** Sesame client keys that only mean something while their feature runs. */
const FEATURE_CLIENT_KEYS: ReadonlyArray<readonly [key: string, feature: FeatureName]> = [
  ['management_api', 'management'],
  ['userfront', 'userfront'],
];

type HasFeatures = { readonly features: Features };

/** Grant types that also need passkeys to work (a relying party: passkeys on, an issuer WebAuthn accepts). */
const PASSKEY_GRANT_TYPES: readonly string[] = ['urn:okta:params:oauth:grant-type:webauthn'];
const NO_PASSKEYS = 'passkeys, which cannot work here (passkeys.enabled is false, or the issuer is an IP address and passkeys.rpId is not set)';

const disabled = (feature: FeatureName) => `the ${feature} feature, which is disabled (features.${feature}.enabled is false)`;

/** The feature a grant type belongs to; undefined for oidc-provider's own grants, which always run. */
export function featureOfGrantType(grantType: string): FeatureName | undefined {
  return (Object.keys(FEATURE_GRANT_TYPES) as FeatureName[]).find((name) => FEATURE_GRANT_TYPES[name].includes(grantType));
}

/** Whether the token endpoint offers `grantType` under this configuration. */
export function grantTypeEnabled(config: HasFeatures, grantType: string): boolean {
  const feature = featureOfGrantType(grantType);
  return feature === undefined || config.features[feature].enabled;
}

/**
 * Why a client may not exist while some features are off (a grant type or a Sesame key of a
 * disabled feature), with the metadata key at fault; undefined when it may.
 */
export function clientFeatureProblem(config: HasFeatures & Parameters<typeof relyingParty>[0], metadata: Record<string, unknown>): { key: string; message: string } | undefined {
  const grants = Array.isArray(metadata.grant_types) ? (metadata.grant_types as unknown[]) : [];
  for (const grant of grants) {
    const feature = typeof grant === 'string' ? featureOfGrantType(grant) : undefined;
    if (feature && !config.features[feature].enabled) return { key: 'grant_types', message: `grant type ${String(grant)} belongs to ${disabled(feature)}` };
    if (PASSKEY_GRANT_TYPES.includes(grant as string) && !relyingParty(config)) return { key: 'grant_types', message: `grant type ${String(grant)} needs ${NO_PASSKEYS}` };
  }
  for (const [key, feature] of FEATURE_CLIENT_KEYS) {
    if (metadata[key] === true && !config.features[feature].enabled) return { key, message: `${key} needs ${disabled(feature)}` };
  }
  return undefined;
}

/** Why a configured connection may not exist while its feature is off; undefined when it may. */
export function connectionFeatureProblem(config: HasFeatures, connection: { readonly id: string; readonly type: string }): string | undefined {
  if (connection.type === 'external' && !config.features.externalConnections.enabled) {
    return `external connection ${connection.id} needs ${disabled('externalConnections')}`;
  }
  return undefined;
}
