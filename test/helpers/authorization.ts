// One way to start an authorization request in tests: fresh PKCE (S256), state and nonce, so each
// test says only what is particular to it (client, redirect_uri, scope...).
import * as oidc from 'openid-client';

export interface AuthorizationRequest {
  /** The /authorize URL carrying every parameter. */
  url: URL;
  /** The parameters alone (for APIs that take them as `authParams`). */
  params: Record<string, string>;
  verifier: string;
  state: string;
  nonce: string;
}

/**
 * An authorization request with fresh PKCE, state and nonce; `params` adds to them and wins (a fixed
 * `state`, say). `at` is openid-client's configuration (client_id and response_type come from it) or
 * an issuer URL (then `response_type` defaults to `code` and `params` names the `client_id`).
 */
export async function authorizationRequest(at: oidc.Configuration | string, params: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const request = await authorizationParams(typeof at === 'string' ? { response_type: 'code', ...params } : params);
  if (typeof at !== 'string') return { ...request, url: oidc.buildAuthorizationUrl(at, request.params) };
  const url = new URL(`${at.replace(/\/$/, '')}/authorize`);
  url.search = new URLSearchParams(request.params).toString();
  return { ...request, url };
}

/** The parameters of such a request without its URL (`params` adds and wins), for `authParams` of an API. */
export async function authorizationParams(params: Record<string, string> = {}): Promise<Omit<AuthorizationRequest, 'url'>> {
  const verifier = oidc.randomPKCECodeVerifier();
  const fresh = { code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: oidc.randomState(), nonce: oidc.randomNonce() };
  const all: Record<string, string> = { ...fresh, ...params };
  return { params: all, verifier, state: all.state!, nonce: all.nonce! };
}
