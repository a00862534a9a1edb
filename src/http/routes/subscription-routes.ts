import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { severities } from '../../rules/rule-schema.ts';
import type { Store, Subscription, SubscriptionInput } from '../../store/store.ts';
import { errorBodySchema, invalidRequest } from '../error-handler.ts';
import { ownedRecord } from './owned-record.ts';

/**
 * Subscriptions (`/v1/subscriptions`): which alerts (rule ids or tags, a minimum severity) go
 * to a subscriber, by which channel (email, or a webhook endpoint) and when (immediately, in
 * an hourly digest, or in a daily digest at a local hour of the subscriber's time zone).
 *
 * Rules checked on create and on every change (against the merged result):
 * - the subscriber belongs to the caller's tenant;
 * - `webhook` needs `endpointId`, an endpoint of the same tenant; `email` takes no endpoint and
 *   needs a subscriber with an email address;
 * - `daily` needs `dailyHour` (0–23); other modes take none.
 */

export type SubscriptionRoutesDeps = { store: Store };

const channels = ['email', 'webhook'] as const;
const modes = ['immediate', 'hourly', 'daily'] as const;

const subscriptionRecord = z
  .object({
    id: z.string(),
    subscriberId: z.string(),
    ruleIds: z.array(z.string()).nullable().describe('null: any rule'),
    tags: z.array(z.string()).nullable().describe('null: any tags; else the alert has one of them'),
    minSeverity: z.enum(severities),
    channel: z.enum(channels),
    endpointId: z.string().nullable(),
    mode: z.enum(modes),
    dailyHour: z.number().int().nullable(),
    unsubscribed: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Subscription' });

const selection = {
  ruleIds: z.array(z.string().min(1)).min(1).nullable().optional(),
  tags: z.array(z.string().min(1)).min(1).nullable().optional(),
  minSeverity: z.enum(severities).optional(),
  endpointId: z.string().min(1).nullable().optional(),
  mode: z.enum(modes).optional(),
  dailyHour: z
    .number()
    .int()
    .min(0)
    .max(23)
    .nullable()
    .optional()
    .describe("local hour (subscriber's time zone)"),
};

const createBody = z.strictObject({
  subscriberId: z.string().min(1),
  channel: z.enum(channels),
  ...selection,
});
const patchBody = z.strictObject({ channel: z.enum(channels).optional(), ...selection });

const idParams = z.object({ id: z.string().min(1) });

type Settings = Pick<Subscription, 'subscriberId' | 'channel' | 'endpointId' | 'mode' | 'dailyHour'>;

export function subscriptionRoutes(deps: SubscriptionRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;

  /** Throws a 400 naming the field when the merged settings break a rule above. */
  async function check(settings: Settings, tenantId: string): Promise<void> {
    const subscriber = await store.subscribers.get(settings.subscriberId);
    if (subscriber === undefined || subscriber.tenantId !== tenantId) {
      throw invalidRequest('body.subscriberId', `no subscriber ${JSON.stringify(settings.subscriberId)}`);
    }
    if (settings.channel === 'webhook') {
      if (settings.endpointId === null)
        throw invalidRequest('body.endpointId', 'the webhook channel needs a webhook endpoint');
      const endpoint = await store.endpoints.get(settings.endpointId);
      if (endpoint === undefined || endpoint.tenantId !== tenantId) {
        throw invalidRequest('body.endpointId', `no webhook endpoint ${JSON.stringify(settings.endpointId)}`);
      }
    } else {
      if (settings.endpointId !== null)
        throw invalidRequest('body.endpointId', 'only the webhook channel takes an endpoint');
      if (subscriber.email === null) {
        throw invalidRequest(
          'body.channel',
          `subscriber ${JSON.stringify(subscriber.id)} has no email address`,
        );
      }
    }
    if (settings.mode === 'daily' && settings.dailyHour === null) {
      throw invalidRequest('body.dailyHour', 'a daily digest needs dailyHour, 0-23');
    }
    if (settings.mode !== 'daily' && settings.dailyHour !== null) {
      throw invalidRequest('body.dailyHour', 'only the daily mode takes dailyHour');
    }
  }

  const withoutTenant = ({ tenantId: _tenant, ...subscription }: Subscription) => subscription;

  return async (app) => {
    app.post(
      '/v1/subscriptions',
      {
        config: { access: 'edit', audit: { resource: 'subscription', action: 'create' } },
        schema: {
          summary: 'Create a subscription',
          tags: ['subscriptions'],
          body: createBody,
          response: { 201: subscriptionRecord, 400: errorBodySchema },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const settings: Settings = {
          subscriberId: body.subscriberId,
          channel: body.channel,
          endpointId: body.endpointId ?? null,
          mode: body.mode ?? 'immediate',
          dailyHour: body.dailyHour ?? null,
        };
        await check(settings, request.tenantId);
        const input: SubscriptionInput = {
          tenantId: request.tenantId,
          ...settings,
          ruleIds: body.ruleIds ?? null,
          tags: body.tags ?? null,
          ...(body.minSeverity === undefined ? {} : { minSeverity: body.minSeverity }),
        };
        return reply.code(201).send(withoutTenant(await store.subscriptions.create(input)));
      },
    );

    app.get(
      '/v1/subscriptions',
      {
        config: { access: 'read' },
        schema: {
          summary: 'List subscriptions',
          tags: ['subscriptions'],
          querystring: z.object({
            subscriberId: z.string().min(1).optional(),
            channel: z.enum(channels).optional(),
            includeUnsubscribed: z
              .enum(['true', 'false'])
              .optional()
              .describe('also those ended by an unsubscribe link (default false)'),
          }),
          response: { 200: z.object({ items: z.array(subscriptionRecord) }) },
        },
      },
      async (request) => {
        const { subscriberId, channel, includeUnsubscribed } = request.query;
        const items = await store.subscriptions.list({
          tenantId: request.tenantId,
          includeUnsubscribed: includeUnsubscribed === 'true',
          ...(subscriberId === undefined ? {} : { subscriberId }),
          ...(channel === undefined ? {} : { channel }),
        });
        return { items: items.map(withoutTenant) };
      },
    );

    app.get(
      '/v1/subscriptions/:id',
      {
        config: { access: 'read' },
        schema: {
          summary: 'One subscription',
          tags: ['subscriptions'],
          params: idParams,
          response: { 200: subscriptionRecord, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        return withoutTenant(
          ownedRecord(await store.subscriptions.get(id), request.tenantId, 'subscription', id),
        );
      },
    );

    app.patch(
      '/v1/subscriptions/:id',
      {
        config: { access: 'edit', audit: { resource: 'subscription', action: 'update' } },
        schema: {
          summary: 'Change a subscription',
          description: 'Fields left out stay; the result is checked as a whole.',
          tags: ['subscriptions'],
          params: idParams,
          body: patchBody,
          response: { 200: subscriptionRecord, 400: errorBodySchema, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        const current = ownedRecord(await store.subscriptions.get(id), request.tenantId, 'subscription', id);
        const patch = request.body;
        const settings: Settings = {
          subscriberId: current.subscriberId,
          channel: patch.channel ?? current.channel,
          endpointId: patch.endpointId !== undefined ? patch.endpointId : current.endpointId,
          mode: patch.mode ?? current.mode,
          dailyHour: patch.dailyHour !== undefined ? patch.dailyHour : current.dailyHour,
        };
        // Moving to email drops the endpoint, leaving daily drops the hour, unless given.
        if (patch.channel === 'email' && patch.endpointId === undefined) settings.endpointId = null;
        if (patch.mode !== undefined && patch.mode !== 'daily' && patch.dailyHour === undefined)
          settings.dailyHour = null;
        await check(settings, request.tenantId);
        const updated = await store.subscriptions.update(id, {
          channel: settings.channel,
          endpointId: settings.endpointId,
          mode: settings.mode,
          dailyHour: settings.dailyHour,
          ...(patch.ruleIds === undefined ? {} : { ruleIds: patch.ruleIds }),
          ...(patch.tags === undefined ? {} : { tags: patch.tags }),
          ...(patch.minSeverity === undefined ? {} : { minSeverity: patch.minSeverity }),
        });
        return withoutTenant(ownedRecord(updated, request.tenantId, 'subscription', id));
      },
    );

    app.delete(
      '/v1/subscriptions/:id',
      {
        config: { access: 'edit', audit: { resource: 'subscription', action: 'delete' } },
        schema: {
          summary: 'Delete a subscription',
          tags: ['subscriptions'],
          params: idParams,
          response: { 204: z.null(), 404: errorBodySchema },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        ownedRecord(await store.subscriptions.get(id), request.tenantId, 'subscription', id);
        await store.subscriptions.delete(id);
        return reply.code(204).send(null);
      },
    );
  };
}
