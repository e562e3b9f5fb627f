// What the composition root builds once and hands to the routers. Each router or factory declares
// the part it uses (a Pick of this, or a smaller interface of a lower layer that this satisfies).
import type Provider from 'oidc-provider';
import type { Renderer } from './http/render.js';
import type { CodeSendDeps } from './passwordless/one-time-codes.js';
import type { Keyring } from './passwordless/keyring.js';

/** Configuration, storage, logging, the keyring and the worker nudge come from CodeSendDeps. */
export interface Services extends CodeSendDeps {
  renderer: Renderer;
  provider: Provider;
  /** The MFA keys (secrets.mfaKeys): they seal TOTP secrets and MAC recovery codes (passwordless/mfa/). */
  mfaKeyring: Keyring;
  /** Cookie signing keys, newest first (shared with the mounted provider). */
  cookieKeys: string[];
  /** Key for CSRF tokens of our forms. */
  csrfKey: string;
}
