// What the server API accepts from a tenant, checked before anything is stored: the path's user id
// and action code, track's attributes, queryUserActions' filters. @authsignal/node puts the user id
// and action into the path without encoding them, so a user id is whatever survives a URL path
// (`user@example.com`, `a b` arrives as `a%20b` and is decoded by the router). Every refusal is a 400
// `invalid_request` naming the field; a NUL (which PostgreSQL refuses to store) is one of them.
import { isIP } from 'node:net';
import type { Context } from 'koa';
import { ACTION_CODE } from '../config/actions.js';
import { badRequest, notFound } from '../http/errors.js';
import { storable } from '../storage/db.js';

const MAX_USER_ID = 255;
const CONTROL = /\p{Cc}/u;
const STATES = ['ALLOW', 'BLOCK', 'CHALLENGE_REQUIRED', 'CHALLENGE_SUCCEEDED', 'CHALLENGE_FAILED', 'REVIEW_REQUIRED', 'REVIEW_SUCCEEDED', 'REVIEW_FAILED'];

/** The tenant's user id and action code of the path (400 when either cannot be one). */
export function pathAction(ctx: Context): { userId: string; actionCode?: string } {
  const userId = ctx.params.userId ?? '';
  if (!userId || userId.length > MAX_USER_ID || CONTROL.test(userId) || userId.trim() !== userId) {
    throw badRequest(`userId must be 1 to ${MAX_USER_ID} characters without control characters or surrounding spaces.`);
  }
  const actionCode = ctx.params.action;
  if (actionCode !== undefined && !ACTION_CODE.test(actionCode)) throw badRequest('action must be 1 to 64 letters, digits, "_", ".", ":" or "-".');
  return { userId, ...(actionCode !== undefined && { actionCode }) };
}

/** The idempotency key of the path; one that no track could have given is simply not found. */
export function pathKey(ctx: Context): string {
  const key = ctx.params.idempotencyKey ?? '';
  if (!idempotencyKeyOk(key)) throw notFound('No action with this idempotency key.');
  return key;
}

const idempotencyKeyOk = (key: string) => key.length >= 1 && key.length <= 255 && storable(key) && !CONTROL.test(key);

/** A JSON request body that must be an object (an absent body is an empty one). */
export function bodyObject(ctx: Context): Record<string, unknown> {
  const body: unknown = ctx.request.body ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The body must be a JSON object.');
  return body as Record<string, unknown>;
}

/** An optional string attribute (null means absent), at most `max` characters, without NUL. */
function text(body: Record<string, unknown>, field: string, max: number): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max || !storable(value)) throw badRequest(`${field} must be a string of at most ${max} characters.`);
  return value;
}

export interface TrackAttributes {
  redirectUrl?: string;
  ipAddress?: string;
  userAgent?: string;
  deviceId?: string;
  email?: string;
  phoneNumber?: string;
  username?: string;
  locale?: string;
  idempotencyKey?: string;
  custom?: Record<string, unknown>;
}

/**
 * track's attributes. Those Sesame does not use (scope, redirectToSettings, challengeId,
 * customDomain...) are accepted and ignored, as a newer SDK may send more.
 */
export function trackAttributes(body: Record<string, unknown>): TrackAttributes {
  const attributes: TrackAttributes = {
    redirectUrl: text(body, 'redirectUrl', 2048),
    ipAddress: text(body, 'ipAddress', 64),
    userAgent: text(body, 'userAgent', 1024),
    deviceId: text(body, 'deviceId', 255),
    email: text(body, 'email', 320),
    phoneNumber: text(body, 'phoneNumber', 32),
    username: text(body, 'username', 255),
    locale: text(body, 'locale', 35),
    idempotencyKey: text(body, 'idempotencyKey', 255),
  };
  const { redirectUrl, ipAddress, idempotencyKey } = attributes;
  if (redirectUrl !== undefined && !(URL.canParse(redirectUrl) && /^https?:$/.test(new URL(redirectUrl).protocol))) {
    throw badRequest('redirectUrl must be an absolute http or https URL.');
  }
  if (ipAddress !== undefined && !isIP(ipAddress)) throw badRequest('ipAddress must be an IPv4 or IPv6 address.');
  if (idempotencyKey !== undefined && !idempotencyKeyOk(idempotencyKey)) throw badRequest('idempotencyKey must be 1 to 255 characters without control characters.');
  // Sesame's own sign-ins keep their decisions under `interaction:<uid>:<sub>` in the client's name:
  // a tenant tracking one first would decide its users' sign-in in advance.
  if (idempotencyKey?.startsWith('interaction:')) throw badRequest('idempotencyKey may not start with "interaction:" (reserved for Sesame\'s own sign-ins).');
  // The API sign-ins' under `grant:`: a tenant's own approved action there would let a retry of the grant through.
  if (idempotencyKey?.startsWith('grant:')) throw badRequest('idempotencyKey may not start with "grant:" (reserved for Sesame\'s own sign-ins).');
  const custom = body.custom;
  if (custom !== undefined && custom !== null) {
    if (typeof custom !== 'object' || Array.isArray(custom)) throw badRequest('custom must be a JSON object.');
    if (JSON.stringify(custom).includes('\\u0000')) throw badRequest('custom must not contain NUL characters.');
    attributes.custom = custom as Record<string, unknown>;
  }
  return Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== undefined)) as TrackAttributes;
}

/** queryUserActions' filters: `fromDate` (ISO 8601), `codes` (comma-separated), `state`. */
export function actionFilters(query: Record<string, unknown>): { since?: Date; actionCodes?: string[]; state?: string } {
  const one = (name: string) => {
    const value = query[name];
    if (value !== undefined && typeof value !== 'string') throw badRequest(`${name} may be given once.`);
    return value === '' ? undefined : value;
  };
  const fromDate = one('fromDate');
  const codes = one('codes');
  const state = one('state');
  const since = fromDate === undefined ? undefined : new Date(fromDate);
  if (since && (Number.isNaN(since.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(fromDate!))) throw badRequest('fromDate must be an ISO 8601 date.');
  const actionCodes = codes?.split(',');
  if (actionCodes && !actionCodes.every((c) => ACTION_CODE.test(c))) throw badRequest('codes must be action codes separated by commas.');
  if (state !== undefined && !STATES.includes(state)) throw badRequest(`state must be one of ${STATES.join(', ')}.`);
  return { ...(since && { since }), ...(actionCodes && { actionCodes }), ...(state && { state }) };
}
