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
 * What an error handler should answer for `caught`: storage failures (below) and unreadable
 * request bodies (requestBodyError) as our typed errors; anything else as it was. Every error
 * handler starts here, so a client's mistake is never a logged 500.
 */
export function asKnownError(ctx: Context, caught: unknown): unknown {
  return requestBodyError(caught) ?? withStorageFailures(ctx, caught);
}

/**
 * A body the parser (co-body, raw-body) could not read, as a 4xx of ours. Its error carries the raw
 * body (`body`), which holds client secrets and codes: turned into a SesameError here, it is neither
 * logged nor echoed.
 */
export function requestBodyError(caught: unknown): SesameError | undefined {
  if (!caught || typeof caught !== 'object') return undefined;
  const err = caught as { status?: unknown; type?: unknown; message?: unknown };
  if (typeof err.status !== 'number' || err.status < 400 || err.status >= 500) return undefined;
  if ('body' in caught) {
    const what = caught instanceof SyntaxError ? 'The request body is not valid JSON.' : 'The request body could not be parsed.';
    return badRequest(what);
  }
  // raw-body's own failures (too large, aborted, wrong length or encoding) name a safe reason.
  if (typeof err.type === 'string' && /^(entity|request|encoding|charset)\./.test(err.type)) {
    return new SesameError(err.status, 'invalid_request', `The request body was refused: ${String(err.message)}.`);
  }
  return undefined;
}

/**
 * The 503 temporarily_unavailable when storage failed for reasons of the environment (see
 * storage/unavailable.ts), logged with the cause; anything else as it was.
 */
export function withStorageFailures(ctx: Context, caught: unknown): unknown {
  const unavailable = storageUnavailable(caught);
  if (!unavailable) return caught;
  ctx.state.log.error({ reason: unavailable.reason }, 'storage unavailable');
  return new SesameError(503, 'temporarily_unavailable', 'error.unavailable', { 'Retry-After': '30' });
}
