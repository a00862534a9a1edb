import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type PreviewOptions, previewRule, type RulePreview } from '../../alerts/rule-preview.ts';
import { eventSchema, type IntelEvent } from '../../ingest/event-schema.ts';
import { checkRule } from '../../rules/compile-rule.ts';
import type { CompiledRule } from '../../rules/compiled-rule.ts';
import { termCondition } from '../../rules/event-terms.ts';
import { parseRuleFile } from '../../rules/load-rules.ts';
import type { RuleProblem } from '../../rules/rule-problems.ts';
import { ruleSchema, severities } from '../../rules/rule-schema.ts';
import type { PreviewEventQuery, PreviewEventStore, Store, StoredPreviewEvent } from '../../store/store.ts';
import { errorBodySchema } from '../error-handler.ts';
import { matchExplanation } from './alert-routes.ts';
import { compileApiRule, isPlainObject, ruleBody } from './rule-routes.ts';

/**
 * The analyst's workbench on the API: try a draft rule before saving it.
 * - `POST /v1/rules/preview` runs a draft over the events the store kept for previews (the
 *   newest `TOCSIN_PREVIEW_EVENTS`), oldest first, through the service's matcher and alert
 *   engine, streaming them page by page. A draft is checked by the same `compileApiRule` as
 *   `POST /v1/rules`, so a bad one gets the same 400; its id may be left out.
 * - `POST /v1/rules/validate` checks a rule as an editor types it, YAML or JSON, and always
 *   answers 200 with the problems at their line and column in the text it was given.
 */

export type RulePreviewRoutesDeps = { store: Store };

/** The id a draft without one is previewed under. */
export const draftRuleId = 'draft';

const previewQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional().describe('only events published at or after this time'),
  to: z.iso.datetime({ offset: true }).optional().describe('only events published before this time'),
  limit: z.coerce
    .number()
    .int()
    .min(0)
    .max(10_000)
    .default(1_000)
    .describe('most alerts listed (alertCount counts them all)'),
});

/** An alert as `tocsin match --include-suppressed` writes it. */
const previewAlert = z
  .object({
    ruleId: z.string(),
    eventIds: z.array(z.string()),
    severity: z.enum(severities),
    matches: z.array(matchExplanation),
    ruleName: z.string(),
    group: z.string().nullable(),
    eventTime: z.string(),
    id: z.string(),
    suppressed: z.literal(true).optional(),
  })
  .meta({ id: 'PreviewAlert' });

const previewResult = z
  .object({
    scannedEvents: z.number().int().describe('events of the preview window that were read'),
    matchedEvents: z.number().int(),
    perDay: z.array(
      z.object({
        day: z.string().describe('UTC day of the event time, YYYY-MM-DD'),
        events: z.number().int().describe('matched events'),
        alerts: z.number().int().describe('alerts a throttle did not suppress'),
      }),
    ),
    alertCount: z.number().int().describe('every would-be alert, suppressed ones included'),
    alerts: z.array(previewAlert).describe('in firing order, at most `limit`'),
    samples: z
      .array(z.object({ event: eventSchema, matches: z.array(matchExplanation) }))
      .describe('the newest 50 matched events with the matchExplanations of the match, newest first'),
  })
  .meta({ id: 'RulePreview' });

const problemRecord = z.object({
  file: z.string(),
  ruleId: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  queryLine: z.number().int().optional(),
  queryColumn: z.number().int().optional(),
  message: z.string(),
});

const validationResult = z
  .object({
    valid: z.boolean(),
    problems: z.array(problemRecord),
    document: ruleSchema.optional().describe('the rule with defaults applied, when valid'),
  })
  .meta({ id: 'RuleValidation' });

const yamlTypes = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'];

export function rulePreviewRoutes(deps: RulePreviewRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;

  return async (app) => {
    // Rule text as typed (this plugin only): problems then carry positions in that text.
    app.addContentTypeParser(yamlTypes, { parseAs: 'string' }, (_request, body, done) => done(null, body));

    app.post(
      '/v1/rules/preview',
      {
        config: { access: 'edit' },
        attachValidation: true,
        schema: {
          summary: 'Preview a draft rule over the recently ingested events',
          description:
            'The body is a rule document as for POST /v1/rules (its id may be left out); a bad one gets the same 400. ' +
            'The draft runs, enabled, over the events kept for previews (TOCSIN_PREVIEW_EVENTS, oldest first) ' +
            'through the same matcher and alert engine as the service: `alerts` are what `tocsin match ' +
            '--include-suppressed` writes for the same events.',
          tags: ['rules'],
          body: ruleSchema,
          querystring: previewQuery,
          response: { 200: previewResult, 400: errorBodySchema },
        },
      },
      async (request) => {
        const body = ruleBody(request);
        const document = isPlainObject(body) && !('id' in body) ? { ...body, id: draftRuleId } : body;
        const rule = compileApiRule(document);
        const { from, to, limit } = request.query;
        return previewStoredEvents(
          rule,
          store.previewEvents,
          {
            tenantId: request.tenantId,
            ...(from === undefined ? {} : { from }),
            ...(to === undefined ? {} : { to }),
          },
          { alertLimit: limit },
        );
      },
    );

    app.post(
      '/v1/rules/validate',
      {
        config: { access: 'edit' },
        schema: {
          summary: 'Check a rule as it is typed',
          description:
            'The body is one rule as YAML (application/yaml, text/yaml or text/plain; problems name their line and ' +
            'column in that text) or as JSON (the messages of POST /v1/rules). Always 200: `valid` says whether it ' +
            'could be saved.',
          tags: ['rules'],
          body: z.unknown(),
          response: { 200: validationResult },
        },
      },
      async (request) => {
        const problems: RuleProblem[] = [];
        let document: unknown;
        if (typeof request.body === 'string') {
          const parsed = parseRuleFile(request.body, 'body');
          problems.push(...parsed.problems);
          if (problems.length === 0 && parsed.rules.length !== 1) {
            const message = parsed.rules.length === 0 ? 'expected a rule' : 'expected one rule, not a list';
            problems.push({ file: 'body', line: 1, column: 1, message });
          }
          if (problems.length === 0) document = parsed.rules[0]!.definition;
        } else {
          const checked = checkRule(request.body, 'body');
          if (checked.ok) document = checked.rule.definition;
          else problems.push(...checked.problems);
        }
        return document === undefined
          ? { valid: false, problems }
          : { valid: true, problems, document: document as z.infer<typeof ruleSchema> };
      },
    );
  };
}

/**
 * A preview over the preview ring, as `POST /v1/rules/preview` runs it (the benchmark too):
 * the rows stream page by page, and those whose term text rules the draft out are counted
 * without being inflated or analysed (the rule's presearch, rules/event-terms.ts).
 */
export async function previewStoredEvents(
  rule: CompiledRule,
  ring: PreviewEventStore,
  query: PreviewEventQuery,
  options: PreviewOptions,
): Promise<RulePreview> {
  const condition = termCondition(rule.query);
  if (condition === null) return previewRule(rule, eventsOf(ring.scan(query)), options);
  const { total, rows } = await ring.scanFor(condition, query);
  return previewRule(rule, eventsOf(rows), { ...options, windowEvents: total });
}

async function* eventsOf(rows: AsyncIterable<StoredPreviewEvent>): AsyncGenerator<IntelEvent> {
  for await (const row of rows) yield row.event;
}
