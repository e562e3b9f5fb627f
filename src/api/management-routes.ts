// Schema-driven management routes: one declaration per route holds its scope, its zod schemas for the
// query, the body and each answer, and its handler. Mounting validates the request with those schemas
// (400 invalid_request naming the field) and the OpenAPI document is generated from the same ones
// (management-openapi.ts merges these operations with the hand-written ones), so the two cannot drift.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { bodyParser } from '@koa/bodyparser';
import { z } from 'zod';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import type { ManagementScope } from '../oidc/resources.js';
import type { DeclaredScopes } from './admin-auth.js';

export interface Reply {
  status: number;
  body?: unknown;
}

export interface ManagementRoute<Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Koa's template under /api/v1, e.g. `/users/:id`. */
  path: string;
  scope: ManagementScope;
  summary: string;
  /** Each path parameter's description. */
  params: Record<string, string>;
  query?: Q;
  body?: B;
  /** The success answers: status -> description and, unless empty, the body's schema. */
  ok: Record<number, { description: string; schema?: z.ZodType }>;
  /** The refusals this route adds to 401 and 403: status -> when. */
  refusals?: Record<number, string>;
  handle(s: Services, ctx: Context, input: { query: z.output<Q>; body: z.output<B> }): Promise<Reply>;
}

/** Declares a route with its schemas' types inferred for the handler. */
export function route<Q extends z.ZodType = z.ZodUndefined, B extends z.ZodType = z.ZodUndefined>(spec: ManagementRoute<Q, B>): ManagementRoute {
  return spec as unknown as ManagementRoute;
}

/** `field: message` for the first problem zod found, so the answer names the field. */
function problemOf(where: string, error: z.ZodError): string {
  const issue = error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : where;
  return `${field}: ${issue.message}.`;
}

/**
 * The path of the first string in `value` holding a NUL: no stored value has one and PostgreSQL refuses
 * one in a query outright, so it is a 400 here rather than a 500 deep in storage.
 */
function nulIn(value: unknown, path: string[] = []): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path.join('.') || 'value' : undefined;
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = nulIn(item, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> {
  if (!schema) return undefined as z.output<T>;
  const nul = nulIn(value);
  if (nul) throw new SesameError('invalidRequest', { detail: `${nul}: must not contain a NUL character.` });
  const result = schema.safeParse(value);
  if (!result.success) throw new SesameError('invalidRequest', { detail: problemOf(where, result.error) });
  return result.data;
}

/** Mounts `routes` on the management router and records the scope each needs for requireAdmin. */
export function mountRoutes(router: Router, s: Services, routes: readonly ManagementRoute[], declared: DeclaredScopes): void {
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '16kb' });
  for (const r of routes) {
    declared.set(`${r.method.toUpperCase()} /api/v1${r.path}`, r.scope);
    const handlers = [
      async function validateAndHandle(ctx: Context) {
        const query = parse(r.query, { ...ctx.query }, 'query');
        const body = parse(r.body, ctx.request.body ?? {}, 'body');
        const reply = await r.handle(s, ctx, { query, body });
        ctx.status = reply.status;
        if (reply.body !== undefined) ctx.body = reply.body;
      },
    ];
    if (r.body) router[r.method](r.path, json, ...handlers);
    else router[r.method](r.path, ...handlers);
  }
}

/** A zod schema as an OpenAPI 3.1 (JSON Schema 2020-12) schema. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

type Operation = Record<string, unknown>;
const errorBody = { type: 'object', properties: { error: { type: 'string' }, error_description: { type: 'string' } }, required: ['error', 'error_description'] };
const error = (description: string) => ({ description, content: { 'application/json': { schema: errorBody } } });

/** OpenAPI `security` for a route: its own scope, or admin. */
export const securityOf = (scope: ManagementScope) => (scope === 'admin' ? [{ clientCredentials: ['admin'] }] : [{ clientCredentials: [scope] }, { clientCredentials: ['admin'] }]);

/** The OpenAPI paths of `routes`, keyed by OpenAPI's `{param}` templates. */
export function openApiPaths(routes: readonly ManagementRoute[]): Record<string, Record<string, Operation>> {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const r of routes) {
    const parameters: Operation[] = Object.entries(r.params).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } }));
    if (r.query) {
      const query = jsonSchemaOf(r.query, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: query.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, { description, schema }] of Object.entries(r.ok)) {
      responses[status] = { description, ...(schema ? { content: { 'application/json': { schema: jsonSchemaOf(schema) } } } : {}) };
    }
    for (const [status, why] of Object.entries(r.refusals ?? {})) responses[status] = error(why);
    responses['401'] = error('No valid bearer token of a management client.');
    responses['403'] = error(`The token has neither ${r.scope} nor admin.`);
    const template = r.path.replace(/:(\w+)/g, '{$1}');
    paths[template] ??= {};
    paths[template][r.method] = {
      summary: r.summary,
      security: securityOf(r.scope),
      ...(parameters.length ? { parameters } : {}),
      // A body whose every key is optional may be left out: required only when {} would be refused.
      ...(r.body ? { requestBody: { required: !r.body.safeParse({}).success, content: { 'application/json': { schema: jsonSchemaOf(r.body, 'input') } } } } : {}),
      responses,
    };
  }
  return paths;
}
