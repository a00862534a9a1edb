import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { announceAlertState } from '../../delivery/websocket/alert-state.ts';
import { isAppError } from '../../errors.ts';
import { severities } from '../../rules/rule-schema.ts';
import type { AlertStatus, Store } from '../../store/store.ts';
import { principalOf } from '../auth.ts';
import { errorBodySchema, invalidRequest } from '../error-handler.ts';
import { deliveryJobRecord } from './delivery-routes.ts';
import { notFound, ownedRecord } from './owned-record.ts';

/**
 * The alert log (`/v1/alerts`): newest first, filtered, in pages (`nextCursor`); one alert
 * with the explanations of its match and its delivery jobs; acknowledgement, which holds back
 * further alerts of the same rule and group until the group has been quiet for a while.
 */

export type AlertRoutesDeps = { store: Store; now?: () => Date };

const alertStatuses = ['active', 'suppressed', 'silenced'] as const satisfies readonly AlertStatus[];

export const matchExplanation = z
  .object({
    field: z.string().describe('dot path of the matched field'),
    text: z.string(),
    start: z.number().int().describe('UTF-16 offset into the original value'),
    end: z.number().int(),
    index: z.number().int().optional().describe('position of the value in a flattened array field'),
  })
  .meta({ id: 'MatchExplanation' });

export const alertRecord = z
  .object({
    id: z.string(),
    ruleId: z.string(),
    ruleName: z.string(),
    severity: z.enum(severities),
    tags: z.array(z.string()),
    group: z.string().nullable().describe('the threshold group value; null for a rule without groupBy'),
    eventIds: z.array(z.string()),
    eventTime: z.string(),
    matches: z.array(matchExplanation),
    event: z.object({
      id: z.string(),
      title: z.string(),
      summary: z.string().optional(),
      url: z.string().optional(),
      publishedAt: z.string(),
      source: z.object({ name: z.string(), url: z.string().optional() }).optional(),
    }),
    suppressed: z.boolean(),
    status: z.enum(alertStatuses),
    receivedAt: z.string(),
    cursor: z.string().describe('position in the alert log (resume a stream from it)'),
    ackedBy: z.string().nullable(),
    ackedAt: z.string().nullable(),
  })
  .meta({ id: 'Alert' });

const ackRecord = z
  .object({
    ruleId: z.string(),
    group: z.string().nullable(),
    alertId: z.string(),
    ackedBy: z.string(),
    ackedAt: z.string(),
    lastAlertAt: z
      .string()
      .describe('the newest alert of the group: the hold ends after a quiet period from it'),
  })
  .meta({ id: 'Acknowledgement' });

/** `a,b` → ['a', 'b'], each one of `values`. */
const commaList = <const T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(values)).min(1));

const idParams = z.object({ id: z.string().min(1) });

export function alertRoutes(deps: AlertRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());

  return async (app) => {
    app.get(
      '/v1/alerts',
      {
        config: { access: 'read' },
        schema: {
          summary: 'List alerts, newest first',
          description: 'Filters combine (AND). Pass `nextCursor` as `cursor` for the next page.',
          tags: ['alerts'],
          querystring: z.object({
            ruleId: z.string().min(1).optional(),
            severity: commaList(severities).optional().describe('one or more, comma-separated'),
            status: commaList(alertStatuses).optional().describe('one or more, comma-separated'),
            from: z.iso.datetime({ offset: true }).optional().describe('received at or after'),
            to: z.iso.datetime({ offset: true }).optional().describe('received before'),
            limit: z.coerce.number().int().min(1).max(1000).default(50),
            cursor: z.string().min(1).optional().describe('nextCursor of the previous page'),
          }),
          response: {
            200: z.object({ items: z.array(alertRecord), nextCursor: z.string().nullable() }),
            400: errorBodySchema,
          },
        },
      },
      async (request) => {
        const { ruleId, severity, status, from, to, limit, cursor } = request.query;
        try {
          return await store.alerts.list({
            tenantId: request.tenantId,
            limit,
            ...(ruleId === undefined ? {} : { ruleId }),
            ...(severity === undefined ? {} : { severity }),
            ...(status === undefined ? {} : { status }),
            ...(from === undefined ? {} : { from: new Date(from).toISOString() }),
            ...(to === undefined ? {} : { to: new Date(to).toISOString() }),
            ...(cursor === undefined ? {} : { cursor }),
          });
        } catch (error) {
          // The store answers "no such cursor" as not found; for a query parameter it is a bad request.
          if (cursor !== undefined && isAppError(error, 'TOCSIN_NOT_FOUND')) {
            throw invalidRequest('query.cursor', 'not a cursor of this list');
          }
          throw error;
        }
      },
    );

    app.get(
      '/v1/alerts/:id',
      {
        config: { access: 'read' },
        schema: {
          summary: 'One alert, with the explanations of its match and its delivery jobs',
          tags: ['alerts'],
          params: idParams,
          response: {
            200: alertRecord.extend({ deliveries: z.array(deliveryJobRecord) }),
            404: errorBodySchema,
          },
        },
      },
      async (request) => {
        const { id } = request.params;
        return ownedRecord(await store.alerts.get(id), request.tenantId, 'alert', id);
      },
    );

    app.post(
      '/v1/alerts/:id/ack',
      {
        config: { access: 'edit' },
        schema: {
          summary: 'Acknowledge an alert',
          description:
            'Records who and when. Later alerts of the same rule and group are stored but not delivered ' +
            'until the group has been quiet for the hold period; then it re-arms.',
          tags: ['alerts'],
          params: idParams,
          body: z
            .strictObject({
              by: z.string().min(1).max(200).optional().describe("default: the API key's name"),
            })
            .nullish()
            .describe('optional'),
          response: { 200: z.object({ alert: alertRecord, ack: ackRecord }), 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        ownedRecord(await store.alerts.get(id), request.tenantId, 'alert', id);
        const by = request.body?.by ?? principalOf(request).name;
        const result = await store.alerts.ack(id, by, now());
        if (result === undefined) throw notFound('alert', id);
        // Every page showing the alert (on any instance) marks it acknowledged.
        await announceAlertState(store.changes, request.tenantId, {
          type: 'state',
          change: 'acknowledged',
          ack: {
            alertId: result.alert.id,
            ruleId: result.alert.ruleId,
            group: result.alert.group,
            ackedBy: result.alert.ackedBy ?? by,
            ackedAt: result.alert.ackedAt ?? result.ack.ackedAt,
          },
        });
        return result;
      },
    );
  };
}
