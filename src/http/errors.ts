// What the HTTP layer makes of a thrown error: anything a route throws becomes a SesameError of the
// catalogue (src/errors.ts), storage failures included, and one handler per response format renders
// it. This file holds that mapping, the shared try/catch and the OAuth JSON format.
import type { Context, Next } from 'koa';
import type { Renderer } from './render.js';
import { SesameError } from '../errors.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { storageUnavailable } from '../storage/unavailable.js';

export const badRequest = (detail: string) => new SesameError('invalidRequest', { detail });
export const notFound = (detail?: string) => new SesameError('notFound', { detail });
export const tooManyRequests = (retryAfter: number, detail: string) => new SesameError('tooManyRequests', { retryAfter, detail });

/**
 * The SesameError an error handler answers for `caught`: ours as they are; unreadable request
 * bodies (requestBodyError) and storage failures mapped; other errors that say they are safe to
 * show (http-errors' `expose`) with their status; anything else a logged 500 without details.
 * Every handler starts here, so a client's mistake is never a logged 500.
 */
export function asKnownError(ctx: Context, caught: unknown): SesameError {
  if (caught instanceof SesameError) return caught;
  const known = requestBodyError(caught) ?? storageFailure(ctx, caught);
  if (known) return known;
  const err = caught as { status?: unknown; expose?: unknown; message?: unknown } | undefined;
  if (err?.expose === true && typeof err.status === 'number' && err.status !== 500) {
    if (err.status >= 500) (ctx.state.log ?? console).error({ err }, 'unhandled error');
    return new SesameError('invalidRequest', { status: err.status, detail: String(err.message) });
  }
  (ctx.state.log ?? console).error({ err: caught }, 'unhandled error');
  return new SesameError('server');
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
    return new SesameError('invalidRequest', { status: err.status, detail: `The request body was refused: ${String(err.message)}.` });
  }
  return undefined;
}

/**
 * The 503 temporarily_unavailable when storage failed for reasons of the environment (see
 * storage/unavailable.ts), logged with the cause. Storage knows nothing of HTTP; this is its mapping.
 */
function storageFailure(ctx: Context, caught: unknown): SesameError | undefined {
  const unavailable = storageUnavailable(caught);
  if (!unavailable) return undefined;
  ctx.state.log.error({ reason: unavailable.reason }, 'storage unavailable');
  return new SesameError('unavailable', { retryAfter: 30 });
}

/** The language of an error answer: the page's if a route chose one, else the request's. */
export function errorLocale(ctx: Context, defaultLocale: string): string {
  return (ctx.state.locale as string | undefined) ?? negotiateLocale(undefined, ctx.get('accept-language'), defaultLocale);
}

/**
 * The error handler of one response format: catches, maps (asKnownError), sets the status and
 * headers, and leaves the body to `render`.
 */
export function catchErrors(render: (ctx: Context, err: SesameError) => unknown) {
  return async function handleErrors(ctx: Context, next: Next) {
    try {
      await next();
    } catch (caught) {
      const err = asKnownError(ctx, caught);
      for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
      ctx.status = err.status;
      await render(ctx, err);
    }
  };
}

/** OAuth's error body: the code, and the description in English or the message key translated. */
export function oauthErrorBody(renderer: Renderer, locale: string, err: SesameError) {
  return { error: err.code, error_description: err.description ?? renderer.translate(locale, err.key ?? err.message) };
}

/** Errors as OAuth JSON (`error`, `error_description`): the management API and JSON callers. */
export function oauthJsonErrors(renderer: Renderer, defaultLocale: string) {
  return catchErrors(function renderOauthJson(ctx, err) {
    ctx.body = oauthErrorBody(renderer, errorLocale(ctx, defaultLocale), err);
  });
}
