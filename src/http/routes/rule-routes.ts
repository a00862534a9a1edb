import { basename } from 'node:path';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { compileRule } from '../../rules/compile-rule.ts';
import type { CompiledRule, RuleSet } from '../../rules/compiled-rule.ts';
import { type RuleDefinition, ruleSchema } from '../../rules/rule-schema.ts';
import type { Store, StoredRule } from '../../store/store.ts';
import { errorBodySchema, invalidRequest } from '../error-handler.ts';
import { notFound } from './owned-record.ts';

/**
 * Rules managed through the API (`/v1/rules`), beside the read-only rules of the rule files.
 * A rule body is validated by the same `compileRule` as a rule file, so it gets the same
 * messages (a query error names its line and column in the query). Every change is stored
 * first, then applied to the running matcher, so the matcher never holds a rule the store
 * lacks; mutations run one at a time so the two stay in the same order.
 */

export type RuleRoutesDeps = {
  store: Store;
  matcher: RuleSet;
  /** The rules loaded from files (read-only here; their ids are taken). */
  fileRules: () => readonly CompiledRule[];
  /**
   * Called when a rule is deleted or redefined (its query, threshold or throttle changed): the
   * alert engine's `forgetRule`, so its dedup ledger and threshold state start afresh.
   */
  onRuleRemoved?: (ruleId: string) => void;
  now?: () => Date;
};

const ruleStats = z
  .object({
    ruleId: z.string(),
    last24h: z.number().int().describe('alerts received in the last 24 hours'),
    last7d: z.number().int().describe('alerts received in the last 7 days'),
  })
  .meta({ id: 'RuleStats' });

const dayMs = 86_400_000;

const ruleRecord = z
  .object({
    id: z.string(),
    origin: z.enum(['file', 'api']).describe('file rules are read-only'),
    file: z.string().nullable().describe('the rule file of a file rule'),
    enabled: z.boolean(),
    createdAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
    document: ruleSchema,
  })
  .meta({ id: 'RuleRecord' });

type RuleRecord = z.infer<typeof ruleRecord>;

const idParams = z.object({ id: z.string().min(1) });

/** A rule document from the API → a compiled rule of origin `api`; throws TOCSIN_INVALID_RULE. */
export function compileApiRule(document: unknown): CompiledRule {
  return { ...compileRule(document, 'body'), origin: 'api' };
}

/**
 * The body schema documents the rule in /docs, but the route (`attachValidation`) lets a body
 * that fails it through to `compileRule`, so that API and rule files report problems
 * identically. Path parameters still answer 400 at once.
 */
export function ruleBody(request: FastifyRequest): unknown {
  const failed = request.validationError;
  if (failed !== undefined && failed.validationContext !== 'body') throw failed;
  return request.body;
}

function fileRecord(rule: CompiledRule): RuleRecord {
  return {
    id: rule.id,
    origin: 'file',
    file: basename(rule.origin),
    enabled: rule.definition.enabled,
    createdAt: null,
    updatedAt: null,
    document: rule.definition,
  };
}

function apiRecord(rule: StoredRule): RuleRecord {
  return {
    id: rule.id,
    origin: 'api',
    file: null,
    enabled: rule.enabled,
    createdAt: rule.createdAt,
    updatedAt: rule.updatedAt,
    document: rule.document,
  };
}

/** What decides which events a rule counts: when it changes, the rule's state starts afresh. */
export const matchingOf = (rule: RuleDefinition) =>
  JSON.stringify([rule.query, rule.threshold ?? null, rule.throttle ?? null]);

export function ruleRoutes(deps: RuleRoutesDeps): FastifyPluginAsyncZod {
  const { store, matcher } = deps;
  const now = deps.now ?? (() => new Date());
  let tail: Promise<unknown> = Promise.resolve();
  /** Runs rule mutations one after another (store, then matcher, in the same order). */
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work);
    tail = run.catch(() => {});
    return run;
  };

  const fileRule = (id: string) => deps.fileRules().find((rule) => rule.id === id);
  const refuseFileRule = (id: string) => {
    const rule = fileRule(id);
    if (rule === undefined) return;
    throw new AppError(
      'TOCSIN_RULE_CONFLICT',
      `rule ${JSON.stringify(id)} comes from the rule file ${basename(rule.origin)}: file rules are read-only`,
      { details: { ruleId: id, file: basename(rule.origin) } },
    );
  };

  return async (app) => {
    app.get(
      '/v1/rules',
      {
        config: { access: 'read' },
        schema: {
          summary: 'List rules: the file rules (read-only) then the API rules',
          tags: ['rules'],
          response: { 200: z.object({ items: z.array(ruleRecord) }) },
        },
      },
      async (request) => {
        const stored = await store.rules.list({ tenantId: request.tenantId });
        return { items: [...deps.fileRules().map(fileRecord), ...stored.map(apiRecord)] };
      },
    );

    app.get(
      '/v1/rules/stats',
      {
        config: { access: 'read' },
        schema: {
          summary: 'Alert counts per rule over the last 24 hours and 7 days',
          description:
            'One item per rule (file rules, then API rules, as GET /v1/rules lists them). Counts are of ' +
            'alerts received in the window that a throttle did not suppress (silenced and held ones count).',
          tags: ['rules'],
          response: {
            200: z.object({ at: z.string().describe('the end of both windows'), items: z.array(ruleStats) }),
          },
        },
      },
      async (request) => {
        const at = now();
        const windows = [new Date(at.getTime() - dayMs), new Date(at.getTime() - 7 * dayMs)].map((d) =>
          d.toISOString(),
        );
        const [stored, counted] = await Promise.all([
          store.rules.list({ tenantId: request.tenantId }),
          store.alerts.countByRule(windows, { tenantId: request.tenantId }),
        ]);
        const counts = new Map(counted.map((row) => [row.ruleId, row.counts]));
        const ids = [...deps.fileRules().map((rule) => rule.id), ...stored.map((rule) => rule.id)];
        return {
          at: at.toISOString(),
          items: ids.map((ruleId) => {
            const [last24h = 0, last7d = 0] = counts.get(ruleId) ?? [];
            return { ruleId, last24h, last7d };
          }),
        };
      },
    );

    app.get(
      '/v1/rules/:id',
      {
        config: { access: 'read' },
        schema: {
          summary: 'One rule',
          tags: ['rules'],
          params: idParams,
          response: { 200: ruleRecord, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        const file = fileRule(id);
        if (file !== undefined) return fileRecord(file);
        const stored = await store.rules.get(id, { tenantId: request.tenantId });
        if (stored === undefined) throw notFound('rule', id);
        return apiRecord(stored);
      },
    );

    app.post(
      '/v1/rules',
      {
        config: { access: 'edit', audit: { resource: 'rule', action: 'create' } },
        attachValidation: true,
        schema: {
          summary: 'Create a rule',
          description:
            'The body is a rule document, validated like a rule file. 409 when the id is taken (by a file rule too). ' +
            'The rule matches new events as soon as this answers.',
          tags: ['rules'],
          body: ruleSchema,
          response: { 201: ruleRecord, 400: errorBodySchema, 409: errorBodySchema },
        },
      },
      async (request, reply) => {
        const compiled = compileApiRule(ruleBody(request));
        const { id } = compiled;
        const tenantId = request.tenantId;
        const created = await exclusive(async () => {
          refuseFileRule(id);
          if ((await store.rules.get(id, { tenantId })) !== undefined) {
            throw new AppError('TOCSIN_RULE_CONFLICT', `rule ${JSON.stringify(id)} already exists`, {
              details: { ruleId: id },
            });
          }
          const stored = await store.rules.upsert(compiled.definition, { tenantId });
          matcher.upsert(compiled);
          return stored;
        });
        return reply.code(201).send(apiRecord(created));
      },
    );

    app.put(
      '/v1/rules/:id',
      {
        config: { access: 'edit', audit: { resource: 'rule', action: 'update' } },
        attachValidation: true,
        schema: {
          summary: 'Replace an API rule',
          description:
            'The body is the whole rule document (its id may be left out). File rules cannot be replaced (409).',
          tags: ['rules'],
          params: idParams,
          body: ruleSchema,
          response: { 200: ruleRecord, 400: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        const tenantId = request.tenantId;
        const body = ruleBody(request);
        const document = isPlainObject(body) && !('id' in body) ? { ...body, id } : body;
        const compiled = compileApiRule(document);
        if (compiled.id !== id)
          throw invalidRequest('body.id', `must equal the rule id of the path, ${JSON.stringify(id)}`);
        const replaced = await exclusive(async () => {
          refuseFileRule(id);
          const previous = await store.rules.get(id, { tenantId });
          if (previous === undefined) throw notFound('rule', id);
          const stored = await store.rules.upsert(compiled.definition, { tenantId });
          matcher.upsert(compiled);
          if (matchingOf(previous.document) !== matchingOf(compiled.definition)) deps.onRuleRemoved?.(id);
          return stored;
        });
        return apiRecord(replaced);
      },
    );

    for (const action of ['enable', 'disable'] as const) {
      app.post(
        `/v1/rules/:id/${action}`,
        {
          config: { access: 'edit', audit: { resource: 'rule', action } },
          schema: {
            summary: action === 'enable' ? 'Enable an API rule' : 'Disable an API rule (kept, not evaluated)',
            tags: ['rules'],
            params: idParams,
            response: { 200: ruleRecord, 404: errorBodySchema, 409: errorBodySchema },
          },
        },
        async (request) => {
          const { id } = request.params;
          const tenantId = request.tenantId;
          const updated = await exclusive(async () => {
            refuseFileRule(id);
            const stored = await store.rules.setEnabled(id, action === 'enable', { tenantId });
            if (stored === undefined) throw notFound('rule', id);
            // A disabled rule stays in the matcher, switched off: it keeps its place in rule order.
            matcher.upsert(compileApiRule(stored.document));
            return stored;
          });
          return apiRecord(updated);
        },
      );
    }

    app.delete(
      '/v1/rules/:id',
      {
        config: { access: 'edit', audit: { resource: 'rule', action: 'delete' } },
        schema: {
          summary: 'Delete an API rule',
          description: 'It stops matching at once; its dedup ledger and threshold state are dropped.',
          tags: ['rules'],
          params: idParams,
          response: { 204: z.null(), 404: errorBodySchema, 409: errorBodySchema },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const tenantId = request.tenantId;
        await exclusive(async () => {
          refuseFileRule(id);
          if (!(await store.rules.delete(id, { tenantId }))) throw notFound('rule', id);
          matcher.remove(id);
          deps.onRuleRemoved?.(id);
        });
        return reply.code(204).send(null);
      },
    );
  };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
