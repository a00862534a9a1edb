import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles } from '../../src/http/roles.ts';
import { createSchemaArbitraries, type JsonSchema } from '../support/schema-arbitrary.ts';
import { authHeaders, startTestApp, type TestApp } from '../support/test-app.ts';

/**
 * Fuzzing from the contract: the OpenAPI document `/docs` serves is walked, and every route
 * and method gets generated valid and invalid path parameters, query strings, bodies and
 * headers, with every role (and with no key and a wrong one). Whatever is sent:
 * - no answer is a 5xx;
 * - a 4xx in JSON has the documented error shape `{"error": {"code", "message", "details"?}}`
 *   (only the unsubscribe pages, which are for people, answer HTML);
 * - a role the operation does not list (`x-tocsin-roles`) gets 403 TOCSIN_FORBIDDEN, and no
 *   key or a wrong one gets 401, on every /v1 route.
 * A fixed seed makes a failure reproducible: fast-check prints the case and its path.
 */

const seed = 20261201;
/** Per method and path: 100 to 300 cases a path (most have two or three methods). */
const runsPerOperation = 100;

type Parameter = { in: 'path' | 'query' | 'header'; name: string; required?: boolean; schema?: JsonSchema };
type Operation = {
  parameters?: Parameter[];
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  'x-tocsin-roles'?: string[];
};
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
};

const callers = [...roles, 'no key', 'wrong key'] as const;
type Caller = (typeof callers)[number];

const printable = fc.string({
  unit: fc.constantFrom(...' !#$%&()*+,-./0123456789:;<=>?@ABCXYZ[]^_`abcxyz{|}~'.split('')),
  maxLength: 40,
});
/** Path segments a client may send: ids, unicode, separators, broken percent-escapes. */
const pathJunk = fc.oneof(
  fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' }).map(encodeURIComponent),
  fc.constantFrom('%', '%E0%A4%A', '%00', '..', '%2F..%2F', 'a'.repeat(300), '%ZZ', '@', '~'),
);
const contentTypes = [
  'application/json',
  'application/json; charset=utf-8',
  'application/x-ndjson',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
];
const rawBodies = fc.oneof(
  fc.constantFrom('', '{', '[]', 'null', '"text"', '{"a":', '\uFEFF{}', '{}\n{}', '{"__proto__":{"x":1}}'),
  fc.string({ maxLength: 200 }),
);

function asParameterText(value: unknown): string {
  if (typeof value === 'string') return value;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

describe('the HTTP API, fuzzed from its OpenAPI document', () => {
  let service: TestApp;
  let docs: Document;
  const keys = new Map<Caller, string | undefined>();

  beforeAll(async () => {
    service = await startTestApp({ LOG_LEVEL: 'silent' });
    for (const role of roles) {
      const created = await service.app.http.inject({
        method: 'POST',
        url: '/v1/api-keys',
        headers: authHeaders,
        payload: { name: `fuzz ${role}`, role },
      });
      expect(created.statusCode).toBe(201);
      keys.set(role, created.json().key);
    }
    keys.set('no key', undefined);
    keys.set('wrong key', 'tk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    docs = (await service.app.http.inject({ method: 'GET', url: '/docs' })).json();
  });
  afterAll(async () => {
    await service?.close();
  });

  it('covers every route of the document', () => {
    const operations = Object.values(docs.paths).flatMap((methods) => Object.keys(methods));
    expect(operations.length).toBeGreaterThan(40);
  });

  it('answers every generated request without a 5xx, in the documented shape, with 401/403 where due', async () => {
    const components = docs.components?.schemas ?? {};
    const arbitraries = createSchemaArbitraries(components);
    const failures: string[] = [];

    for (const [path, methods] of Object.entries(docs.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const parameters = operation.parameters ?? [];
        const parameterValue = (parameter: Parameter) =>
          fc.oneof(
            { weight: 3, arbitrary: arbitraries.valid(parameter.schema) },
            { weight: 1, arbitrary: arbitraries.invalid(parameter.schema) },
          );
        const pathParams = fc.record(
          Object.fromEntries(
            parameters
              .filter((parameter) => parameter.in === 'path')
              .map((parameter) => [
                parameter.name,
                fc.oneof(
                  parameterValue(parameter).map((value) => encodeURIComponent(asParameterText(value))),
                  pathJunk,
                ),
              ]),
          ),
        );
        const query = fc.record(
          Object.fromEntries(
            parameters
              .filter((parameter) => parameter.in === 'query')
              .map((parameter) => [parameter.name, parameterValue(parameter).map(asParameterText)]),
          ),
          { requiredKeys: [] },
        );
        const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
        const body = fc.oneof(
          { weight: 3, arbitrary: arbitraries.valid(bodySchema).map((value) => JSON.stringify(value)) },
          { weight: 2, arbitrary: arbitraries.invalid(bodySchema).map((value) => JSON.stringify(value)) },
          { weight: 1, arbitrary: rawBodies },
          { weight: 1, arbitrary: fc.constant(undefined) },
        );
        const headers = fc.record(
          {
            'content-type': fc.oneof(
              { weight: 4, arbitrary: fc.constant('application/json') },
              { weight: 1, arbitrary: fc.constantFrom(...contentTypes) },
              { weight: 1, arbitrary: printable },
            ),
            'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-unknown'),
            accept: fc.constantFrom('*/*', 'text/html', 'application/json', 'image/png'),
            'x-fuzz': printable,
          },
          { requiredKeys: ['content-type'] },
        );
        const extraQuery = fc.option(fc.tuple(printable, printable), { nil: undefined });
        const request = fc.record({
          caller: fc.constantFrom(...callers),
          pathParams,
          query,
          extraQuery,
          body,
          headers,
        });

        await fc
          .assert(
            fc.asyncProperty(request, async (generated) => {
              const url =
                path.replace(/\{([^}]+)\}/g, (_, name: string) => generated.pathParams[name] ?? 'x') +
                queryString(generated.query, generated.extraQuery);
              const key = keys.get(generated.caller);
              const response = await service.app.http.inject({
                method: method.toUpperCase() as 'GET',
                url,
                headers: {
                  ...generated.headers,
                  ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
                },
                ...(generated.body === undefined || method === 'get' ? {} : { payload: generated.body }),
              });
              const problem = judge(components, path, operation, generated.caller, { ...response, url });
              if (problem !== undefined) {
                const sent =
                  generated.body === undefined ? '' : ` body ${JSON.stringify(generated.body.slice(0, 300))}`;
                failures.push(`${method.toUpperCase()} ${url} as ${generated.caller}${sent}: ${problem}`);
                return false;
              }
              return true;
            }),
            { seed, numRuns: runsPerOperation, endOnFailure: true },
          )
          .catch(() => {
            // Recorded in `failures` (every operation runs, so one report lists them all).
          });
      }
    }
    // One line per operation that failed (each stops at its first failing case).
    if (failures.length > 0) console.error(`fuzz failures:\n${failures.join('\n')}`);
    expect(failures).toEqual([]);
  }, 180_000);
});

function queryString(query: Record<string, string | undefined>, extra: [string, string] | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.append(name, value);
  if (extra !== undefined) params.append(extra[0], extra[1]);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

const isErrorShape = (body: unknown): boolean => {
  const error = (body as { error?: Record<string, unknown> } | null)?.error;
  if (typeof error !== 'object' || error === null) return false;
  const extra = Object.keys(error).filter((name) => !['code', 'message', 'details'].includes(name));
  return (
    typeof error.code === 'string' &&
    /^TOCSIN_[A-Z_]+$/.test(error.code) &&
    typeof error.message === 'string' &&
    (error.details === undefined || (typeof error.details === 'object' && error.details !== null)) &&
    extra.length === 0
  );
};

/**
 * A 4xx an operation documents with a schema of its own (not the Error one), e.g. the 400 of
 * `POST /v1/events`, `{"accepted": [], "rejected": [...]}` (contracts.md): its required keys.
 */
function isDocumentedOtherwise(
  components: Record<string, JsonSchema>,
  operation: Operation,
  status: number,
  body: unknown,
): boolean {
  const schema = operation.responses?.[String(status)]?.content?.['application/json']?.schema;
  if (schema === undefined) return false;
  // A response documented as one of several bodies (`anyOf`, e.g. POST /v1/events' 400: the
  // ingest result or the error shape) is in shape when any of them is.
  const branches = schema.anyOf ?? [schema];
  return branches.some((branch) => hasRequiredFields(components, branch, body));
}

function hasRequiredFields(
  components: Record<string, JsonSchema>,
  branch: JsonSchema,
  body: unknown,
): boolean {
  if (branch.$ref?.endsWith('/Error')) return false;
  const schema = branch.$ref !== undefined ? (components[branch.$ref.split('/').at(-1)!] ?? {}) : branch;
  const required = schema.required ?? [];
  return (
    required.length > 0 &&
    typeof body === 'object' &&
    body !== null &&
    required.every((name) => Object.hasOwn(body, name))
  );
}

/** Fastify's router limit on one path parameter (`maxParamLength`, default 100). */
const maxParamLength = 100;

/**
 * A URL that does not reach the operation it was made for: one the router cannot read, or one
 * with a `.`/`..` segment, which clients (and the server) resolve to another path.
 */
function isUnroutable(url: string): boolean {
  const path = url.split('?')[0]!;
  return path.split('/').some((segment) => {
    if (segment === '.' || segment === '..' || segment.length > maxParamLength) return true;
    try {
      decodeURIComponent(segment);
      return false;
    } catch {
      return true;
    }
  });
}

/** What is wrong with an answer, or undefined. */
function judge(
  components: Record<string, JsonSchema>,
  path: string,
  operation: Operation,
  caller: Caller,
  response: { statusCode: number; headers: Record<string, unknown>; body: string; url: string },
): string | undefined {
  const { statusCode: status } = response;
  const type = String(response.headers['content-type'] ?? '');
  const snippet = response.body.slice(0, 200);
  if (status >= 500) return `answered ${status}: ${snippet}`;
  let body: unknown;
  if (type.startsWith('application/json')) {
    try {
      body = JSON.parse(response.body);
    } catch {
      return `answered ${status} with a broken JSON body: ${snippet}`;
    }
  }
  if (status >= 400) {
    if (!type.startsWith('application/json')) {
      if (!(path.startsWith('/u/') && type.startsWith('text/html'))) {
        return `answered ${status} as ${type || 'no content type'}: ${snippet}`;
      }
    } else if (!isErrorShape(body) && !isDocumentedOtherwise(components, operation, status, body)) {
      return `answered ${status} outside the error shape: ${snippet}`;
    }
  }
  if (!path.startsWith('/v1/')) return undefined;
  const code = (body as { error?: { code?: string } } | undefined)?.error?.code;
  // The router refuses a URL it cannot read (a broken %-escape: 400; a path segment over its
  // length limit: 414) before any hook runs, so before authentication: that refusal tells a
  // caller nothing about keys or roles. A dot segment names another path. Either way the
  // operation's 401/403 does not apply; the checks above (no 5xx, the error shape) still do.
  if (isUnroutable(response.url)) return undefined;
  if (caller === 'no key' || caller === 'wrong key') {
    return status === 401 && code === 'TOCSIN_UNAUTHORIZED'
      ? undefined
      : `expected 401, got ${status} ${snippet}`;
  }
  const allowed = operation['x-tocsin-roles'] ?? [];
  if (!allowed.includes(caller)) {
    return status === 403 && code === 'TOCSIN_FORBIDDEN'
      ? undefined
      : `expected 403, got ${status} ${snippet}`;
  }
  if (status === 401 || status === 403) return `a ${caller} key was refused with ${status}: ${snippet}`;
  return undefined;
}
