// Our typed errors with a stable code and HTTP status; one handler renders them as JSON or a page.
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

/** The database is unreachable, full or read-only (see storage/unavailable.ts): try again later. */
export const temporarilyUnavailable = () => new SesameError(503, 'temporarily_unavailable', 'error.unavailable', { 'Retry-After': '30' });
