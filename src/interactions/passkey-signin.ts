// Passkey sign-in on the email page: the page's script asks for options (JSON) and runs the
// ceremony (autofill or the button), then posts the answer as an ordinary form. The challenge is
// bound to this interaction, so one fetched for another sign-in is refused here. Every failure,
// bad input included, shows the email page again with the one message of its kind (400).
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import type { Services } from '../services.js';
import { ERRORS, SesameError } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { check } from '../risk/check.js';
import { PASSKEY_CEREMONIES_PER_IP } from '../risk/limits.js';
import { finishAuthentication, startAuthentication, type Asker } from '../passwordless/passkeys.js';
import { relyingParty } from '../config/passkeys.js';
import { loginResult, passkeyAmr } from '../oidc/acr.js';
import { finish, methodAllowed, render, requester, type FlowContext } from './flow-context.js';

/** Passkeys off (or an IP issuer): not found; on, but left out by the request's acr: the one "sign in another way". */
function refusePasskey(s: Services, ctx: FlowContext) {
  if (!relyingParty(s.config)) throw new SesameError('passkeysUnavailable');
  if (!methodAllowed(s, ctx, 'passkey')) throw new SesameError('methodNotAllowed');
}

function asker(ctx: FlowContext): Asker {
  const { ip, clientId, userAgent } = requester(ctx);
  return { boundTo: `interaction:${ctx.state.step.details.uid}`, ip, clientId, userAgent };
}

/** `POST /interaction/:uid/passkey/options` (JSON): a discoverable challenge for this sign-in. */
export async function passkeyOptions(s: Services, ctx: FlowContext) {
  refusePasskey(s, ctx);
  // Each answer stores a challenge row: one address may not fill the table.
  const decision = await check(s.db, PASSKEY_CEREMONIES_PER_IP, [ctx.ip], undefined);
  if (decision.kind !== 'allow') throw tooManyRequests(decision.retryAfter, 'Too many passkey sign-ins were started from this address.');
  const { handle, options } = await startAuthentication(s, asker(ctx));
  ctx.body = { handle, options };
}

/** The form's `response` field as an assertion's JSON, or null when it cannot be one. */
export function parseResponse(raw: unknown): AuthenticationResponseJSON | null {
  if (typeof raw !== 'string' || raw.length > 8192) return null;
  try {
    const parsed = JSON.parse(raw) as unknown;
    const response = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
    if (typeof response?.id !== 'string' || !response.response || typeof response.response !== 'object') return null;
    return response as unknown as AuthenticationResponseJSON;
  } catch {
    return null;
  }
}

/** `POST /interaction/:uid/passkey` (form: handle, response, csrf): checks the assertion and signs the user in. */
export async function submitPasskey(s: Services, ctx: FlowContext) {
  if (relyingParty(s.config) && !methodAllowed(s, ctx, 'passkey')) return render(s, ctx, 'email', { email: '', error: ERRORS.methodNotAllowed.key }, 400);
  refusePasskey(s, ctx);
  const body = ctx.request.body as Record<string, unknown>;
  const handle = typeof body.handle === 'string' && body.handle.length <= 200 ? body.handle : '';
  const response = parseResponse(body.response);
  if (!handle || !response) return render(s, ctx, 'email', { email: '', error: ERRORS.passkeyFailed.key }, 400);
  const signedIn = await finishAuthentication(s, handle, response, asker(ctx)).catch((err: unknown) => {
    if (err instanceof SesameError && (err.kind === 'passkeyFailed' || err.kind === 'passkeyExpired')) return err;
    throw err;
  });
  if (signedIn instanceof SesameError)
    return render(s, ctx, 'email', { email: '', error: signedIn.kind === 'passkeyExpired' ? ERRORS.passkeyExpired.key : ERRORS.passkeyFailed.key }, 400);
  return finish(s, ctx, { login: loginResult(signedIn.userId, passkeyAmr(signedIn.synced)) }, false);
}
