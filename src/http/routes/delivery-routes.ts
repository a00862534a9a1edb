import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import type { DeliveryJob, Store } from '../../store/store.ts';
import { errorBodySchema } from '../error-handler.ts';
import { notFound, ownedRecord } from './owned-record.ts';

/**
 * The delivery outbox as operators see it (`/v1/deliveries`): jobs by status — `dead` ones
 * exhausted their retries, `failed` ones failed permanently — with their attempts, and replay,
 * which puts a job back to pending now with its attempts reset. A replayed job keeps its id,
 * so receivers that deduplicate on `webhook-id` still see one delivery.
 */

export type DeliveryRoutesDeps = { store: Store; now?: () => Date };

const deliveryStatuses = ['pending', 'sending', 'sent', 'failed', 'dead'] as const;

export const deliveryJobRecord = z
  .object({
    id: z.string().describe('stable: the webhook-id / Message-ID of every attempt'),
    kind: z.enum(['alert', 'digest']),
    alertId: z.string().nullable(),
    subscriptionId: z.string(),
    channel: z.enum(['email', 'webhook']),
    endpointId: z.string().nullable(),
    status: z.enum(deliveryStatuses),
    attempts: z.number().int(),
    nextAttemptAt: z.string(),
    leaseUntil: z.string().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'DeliveryJob' });

export const attemptRecord = z
  .object({
    id: z.string(),
    jobId: z.string().describe('the delivery: its id is the webhook-id of the attempt'),
    at: z.string(),
    statusCode: z.number().int().nullable(),
    durationMs: z.number(),
    responseSnippet: z.string().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: 'DeliveryAttempt' });

const idParams = z.object({ id: z.string().min(1) });

export function deliveryRoutes(deps: DeliveryRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const ownedJob = async (id: string, tenantId: string): Promise<DeliveryJob> =>
    ownedRecord(await store.deliveries.get(id), tenantId, 'delivery', id);

  return async (app) => {
    app.get(
      '/v1/deliveries',
      {
        config: { access: 'read' },
        schema: {
          summary: 'List delivery jobs, newest first',
          tags: ['deliveries'],
          querystring: z.object({
            status: z.enum(deliveryStatuses).optional(),
            alertId: z.string().min(1).optional(),
            endpointId: z.string().min(1).optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(50),
            cursor: z.string().min(1).optional().describe('nextCursor of the previous page'),
          }),
          response: {
            200: z.object({ items: z.array(deliveryJobRecord), nextCursor: z.string().nullable() }),
            400: errorBodySchema,
          },
        },
      },
      async (request) => {
        const { status, alertId, endpointId, limit, cursor } = request.query;
        return store.deliveries.list({
          tenantId: request.tenantId,
          limit,
          ...(status === undefined ? {} : { status }),
          ...(alertId === undefined ? {} : { alertId }),
          ...(endpointId === undefined ? {} : { endpointId }),
          ...(cursor === undefined ? {} : { cursor }),
        });
      },
    );

    app.get(
      '/v1/deliveries/:id',
      {
        config: { access: 'read' },
        schema: {
          summary: 'One delivery job with its attempts (newest first)',
          tags: ['deliveries'],
          params: idParams,
          response: {
            200: deliveryJobRecord.extend({
              attemptLog: z.array(attemptRecord).describe('the attempts, newest first'),
            }),
            404: errorBodySchema,
          },
        },
      },
      async (request) => {
        const job = await ownedJob(request.params.id, request.tenantId);
        return { ...job, attemptLog: await store.attempts.list({ jobId: job.id, limit: 100 }) };
      },
    );

    app.post(
      '/v1/deliveries/:id/replay',
      {
        config: { access: 'edit' },
        schema: {
          summary: 'Replay one delivery job',
          description: 'Back to pending now, attempts reset. 409 while it is being sent.',
          tags: ['deliveries'],
          params: idParams,
          response: { 200: deliveryJobRecord, 404: errorBodySchema, 409: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        await ownedJob(id, request.tenantId);
        const replayed = await store.deliveries.replay(id, now());
        if (replayed !== undefined) return replayed;
        const job = await store.deliveries.get(id);
        if (job === undefined) throw notFound('delivery', id);
        throw new AppError(
          'TOCSIN_CONFLICT',
          `delivery ${JSON.stringify(id)} is being sent; replay it once it ends`,
          {
            details: {
              id,
              status: job.status,
            },
          },
        );
      },
    );

    app.post(
      '/v1/deliveries/replay',
      {
        config: { access: 'edit' },
        schema: {
          summary: 'Replay every failed or dead delivery since a time',
          description: 'Jobs that ended failed or dead since `since`, optionally of one webhook endpoint.',
          tags: ['deliveries'],
          body: z.strictObject({
            since: z.iso.datetime({ offset: true }),
            endpointId: z.string().min(1).optional(),
          }),
          response: { 200: z.object({ replayed: z.number().int() }), 400: errorBodySchema },
        },
      },
      async (request) => {
        const { since, endpointId } = request.body;
        const replayed = await store.deliveries.replayFailed(
          {
            tenantId: request.tenantId,
            since: new Date(since),
            ...(endpointId === undefined ? {} : { endpointId }),
          },
          now(),
        );
        return { replayed };
      },
    );
  };
}
