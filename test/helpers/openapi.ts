// Conformance of management API answers to the OpenAPI document the server itself serves at
// /api/v1/openapi.json: the answer's status must be documented for that method and path template, and
// its body must match the documented schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses). The
// document is generated from the zod schemas that validate requests, so this checks the code against
// its own declarations. Any management test wires it in by passing its answers through `conforming`.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'vitest';

type Responses = Record<string, { content?: Record<string, { schema: object }> }>;
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown[]; responses: Responses; parameters?: unknown[]; requestBody?: unknown }>>;
  components: { schemas?: Record<string, object> };
  [key: string]: unknown;
}
export interface Answer {
  status: number;
  body: any;
}

interface Loaded {
  document: OpenApiDocument;
  validators: Map<string, ValidateFunction>;
}
const loaded = new Map<string, Promise<Loaded>>();
// One validator for every server: the document is registered under its server's URL, and every
// answer's schema is compiled as a $ref into it, so #/components references resolve in place.
const ajv = new Ajv2020({ strict: false, allErrors: true });

/** The document a server serves (fetched once per server URL). */
export async function openApiDocument(url: string): Promise<OpenApiDocument> {
  return (await load(url)).document;
}

function load(url: string): Promise<Loaded> {
  let entry = loaded.get(url);
  if (!entry) {
    entry = (async () => {
      const res = await fetch(`${url}/api/v1/openapi.json`);
      expect(res.status, 'GET /api/v1/openapi.json').toBe(200);
      const document = (await res.json()) as OpenApiDocument;
      ajv.addSchema(document as object, documentId(url));
      return { document, validators: new Map() };
    })();
    loaded.set(url, entry);
  }
  return entry;
}

const documentId = (url: string) => `${url}/api/v1/openapi.json`;
const pointer = (...parts: string[]) => parts.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** The documented template (`/users/{id}`) that `path` (`/users/u1?x=1`, after /api/v1) reaches with `method`; literal segments win. */
export function templateOf(document: OpenApiDocument, method: string, path: string): string | undefined {
  const bare = path.split('?')[0]!;
  const m = method.toLowerCase();
  return Object.keys(document.paths)
    .filter((p) => document.paths[p]![m] && new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare))
    .sort((a, b) => a.split('{').length - b.split('{').length)[0];
}

/**
 * Fails the test unless the document describes `answer` for `method` and `path` (after /api/v1): a
 * documented status, and a body the status's schema accepts (no body where it documents none).
 */
export async function expectConforms(url: string, method: string, path: string, answer: Answer): Promise<void> {
  const { document, validators } = await load(url);
  const what = `${method} ${path} ${answer.status}`;
  const template = templateOf(document, method, path);
  expect(template, `${method} ${path} is a documented operation`).toBeDefined();
  const m = method.toLowerCase();
  const response = document.paths[template!]![m]!.responses[String(answer.status)];
  expect(response, `${what} is a documented answer`).toBeDefined();
  if (!response!.content?.['application/json']) {
    expect(answer.body, `${what} has no body, as documented`).toBeNull();
    return;
  }
  const at = pointer('paths', template!, m, 'responses', String(answer.status), 'content', 'application/json', 'schema');
  let validate = validators.get(at);
  if (!validate) validators.set(at, (validate = ajv.compile({ $ref: `${documentId(url)}#${at}` })));
  expect(validate(answer.body) ? null : validate.errors, `${what} matches its schema`).toBeNull();
}

/** `answer`, once checked by expectConforms: `return conforming(t.url, method, path, answer)` in a test's caller. */
export async function conforming<A extends Answer>(url: string, method: string, path: string, answer: A): Promise<A> {
  await expectConforms(url, method, path, answer);
  return answer;
}

/** Calls `path` under /api/v1 of the server at `url` (with a bearer unless null, a JSON `body` if given); its answer, checked by `conforming`. */
export async function documentedCall(url: string, method: string, path: string, bearer: string | null, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return conforming(url, method, path, { status: res.status, body: text ? JSON.parse(text) : null });
}
