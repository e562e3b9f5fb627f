// Our typed errors with a stable code and HTTP status; one handler renders them as JSON or a page.
import type { Context } from 'koa';
import { storageUnavailable } from '../storage/unavailable.js';

export class SesameError extends Error {
  override name = 'SesameError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'invalid_request') => new SesameError(400, code, message);
export const notFound = (message = 'Not found.') => new SesameError(404, 'not_found', message);
export const tooManyRequests = (retryAfter: number, message: string) =>
  new SesameError(429, 'too_many_requests', message, { 'Retry-After': String(retryAfter) });

/**
 * What an error handler should answer for `caught`: the 503 temporarily_unavailable when storage
 * failed for reasons of the environment (see storage/unavailable.ts), logged with the cause;
 * anything else as it was.
 */
export function withStorageFailures(ctx: Context, caught: unknown): unknown {
  const unavailable = storageUnavailable(caught);
  if (!unavailable) return caught;
  ctx.state.log.error({ reason: unavailable.reason }, 'storage unavailable');
  return new SesameError(503, 'temporarily_unavailable', 'error.unavailable', { 'Retry-After': '30' });
}
