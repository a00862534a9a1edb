import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PingResult } from '../../delivery/webhook/webhook-channel.ts';
import { AppError } from '../../errors.ts';
import { durationSchema, parseDuration } from '../../rules/rule-schema.ts';
import type { Store, WebhookEndpoint } from '../../store/store.ts';
import { errorBodySchema } from '../error-handler.ts';
import { attemptRecord } from './delivery-routes.ts';
import { ownedRecord } from './owned-record.ts';

/**
 * Webhook endpoints (`/v1/webhooks`): a URL and a Standard Webhooks signing secret
 * (`whsec_…`). The secret is shown whole only when it is made — on create and on rotate —
 * and masked everywhere else. Rotating keeps the previous secret valid for a while (deliveries
 * are signed with both), so receivers can switch without dropping a delivery. `test` sends a
 * signed `ping` at once; `attempts` is the endpoint's delivery log.
 */

export type WebhookRoutesDeps = {
  store: Store;
  now?: () => Date;
  /** Sends a signed ping (the webhook channel's); without it `test` answers 502. */
  ping?: (endpoint: WebhookEndpoint) => Promise<PingResult>;
};

const webhookFormats = ['standard', 'alertmanager'] as const;

const webhookUrl = z.url({ protocol: /^https?$/, message: 'an http or https URL' }).max(2048);
const webhookSecret = z
  .string()
  .regex(
    /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/,
    'a Standard Webhooks secret: whsec_ and a base64 key of 24 bytes or more',
  );
/** How long a rotated-out secret may stay valid: receivers switch within days, not years. */
export const maxPreviousSecretValidity = '30d';
const duration = durationSchema(maxPreviousSecretValidity, '90m, 24h, 7d');

const webhookRecord = z
  .object({
    id: z.string(),
    url: z.string(),
    secret: z.string().describe('masked except in the answers to create and rotate'),
    previousSecretExpiresAt: z
      .string()
      .nullable()
      .describe('until then, deliveries are signed with the old secret too'),
    format: z.enum(webhookFormats),
    disabled: z.boolean(),
    disabledReason: z.string().nullable(),
    disabledAt: z.string().nullable(),
    failingSince: z.string().nullable().describe('start of the current run of failed deliveries'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'WebhookEndpoint' });

const idParams = z.object({ id: z.string().min(1) });

const pingRecord = z
  .object({
    webhookId: z.string().describe('the webhook-id header of the ping'),
    delivered: z.boolean().describe('the endpoint answered 2xx'),
    statusCode: z.number().int().nullable(),
    durationMs: z.number(),
    responseSnippet: z.string().nullable().describe('the first bytes of the answer'),
    error: z.string().nullable(),
  })
  .meta({ id: 'WebhookPing' });

/** `whsec_…abcd`: enough to tell secrets apart, nothing to sign with. */
export function maskSecret(secret: string): string {
  return `whsec_…${secret.slice(-4)}`;
}

function view(endpoint: WebhookEndpoint, reveal = false) {
  const { previousSecret: _previous, tenantId: _tenant, ...rest } = endpoint;
  return { ...rest, secret: reveal ? endpoint.secret : maskSecret(endpoint.secret) };
}

export function webhookRoutes(deps: WebhookRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const owned = async (id: string, tenantId: string) =>
    ownedRecord(await store.endpoints.get(id), tenantId, 'webhook endpoint', id);

  return async (app) => {
    app.post(
      '/v1/webhooks',
      {
        config: { access: 'edit', audit: { resource: 'webhook', action: 'create' } },
        schema: {
          summary: 'Create a webhook endpoint',
          description: 'The answer holds the signing secret (generated unless given); later answers mask it.',
          tags: ['webhooks'],
          body: z.strictObject({
            url: webhookUrl,
            format: z.enum(webhookFormats).default('standard'),
            secret: webhookSecret.optional(),
          }),
          response: { 201: webhookRecord, 400: errorBodySchema },
        },
      },
      async (request, reply) => {
        const { url, format, secret } = request.body;
        const endpoint = await store.endpoints.create({
          tenantId: request.tenantId,
          url,
          format,
          ...(secret === undefined ? {} : { secret }),
        });
        return reply.code(201).send(view(endpoint, true));
      },
    );

    app.get(
      '/v1/webhooks',
      {
        config: { access: 'read' },
        schema: {
          summary: 'List webhook endpoints',
          tags: ['webhooks'],
          response: { 200: z.object({ items: z.array(webhookRecord) }) },
        },
      },
      async (request) => ({
        items: (await store.endpoints.list({ tenantId: request.tenantId })).map((endpoint) => view(endpoint)),
      }),
    );

    app.get(
      '/v1/webhooks/:id',
      {
        config: { access: 'read' },
        schema: {
          summary: 'One webhook endpoint',
          tags: ['webhooks'],
          params: idParams,
          response: { 200: webhookRecord, 404: errorBodySchema },
        },
      },
      async (request) => view(await owned(request.params.id, request.tenantId)),
    );

    app.patch(
      '/v1/webhooks/:id',
      {
        config: { access: 'edit', audit: { resource: 'webhook', action: 'update' } },
        schema: {
          summary: 'Change a webhook endpoint',
          description:
            '`disabled: false` re-enables an endpoint (also one disabled after repeated failures).',
          tags: ['webhooks'],
          params: idParams,
          body: z.strictObject({
            url: webhookUrl.optional(),
            format: z.enum(webhookFormats).optional(),
            disabled: z.boolean().optional(),
          }),
          response: { 200: webhookRecord, 400: errorBodySchema, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        const current = await owned(id, request.tenantId);
        const { url, format, disabled } = request.body;
        let endpoint = current;
        if (url !== undefined || format !== undefined) {
          endpoint =
            (await store.endpoints.update(id, { ...(url && { url }), ...(format && { format }) })) ??
            endpoint;
        }
        if (disabled === true && !current.disabled) {
          endpoint = (await store.endpoints.disable(id, 'disabled through the API', now())) ?? endpoint;
        } else if (disabled === false && current.disabled) {
          endpoint = (await store.endpoints.enable(id)) ?? endpoint;
        }
        return view(endpoint);
      },
    );

    app.post(
      '/v1/webhooks/:id/rotate',
      {
        config: { access: 'edit', audit: { resource: 'webhook', action: 'rotate' } },
        schema: {
          summary: 'Rotate the signing secret',
          description:
            'Answers the new secret (generated unless given). The previous one stays valid for ' +
            `\`previousSecretValidFor\` (default 24h, at most ${maxPreviousSecretValidity}).`,
          tags: ['webhooks'],
          params: idParams,
          body: z
            .strictObject({
              previousSecretValidFor: duration.default('24h'),
              secret: webhookSecret.optional(),
            })
            .nullish()
            .describe('optional'),
          response: { 200: webhookRecord, 400: errorBodySchema, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        await owned(id, request.tenantId);
        const validFor = parseDuration(request.body?.previousSecretValidFor ?? '24h');
        const secret = request.body?.secret;
        const rotated = await store.endpoints.rotateSecret(id, new Date(now().getTime() + validFor), secret);
        return view(ownedRecord(rotated, request.tenantId, 'webhook endpoint', id), true);
      },
    );

    app.post(
      '/v1/webhooks/:id/test',
      {
        config: { access: 'edit' },
        schema: {
          summary: 'Send a signed test ping',
          description:
            'POSTs `{"type": "ping", …}`, signed like every delivery, to the endpoint now (also a ' +
            'disabled one) and answers what happened. Not retried and not in the delivery log.',
          tags: ['webhooks'],
          params: idParams,
          response: { 200: pingRecord, 404: errorBodySchema, 502: errorBodySchema },
        },
      },
      async (request) => {
        const endpoint = await owned(request.params.id, request.tenantId);
        if (!deps.ping) throw new AppError('TOCSIN_DELIVERY_FAILED', 'no webhook channel is configured');
        return deps.ping(endpoint);
      },
    );

    app.get(
      '/v1/webhooks/:id/attempts',
      {
        config: { access: 'read' },
        schema: {
          summary: "The endpoint's delivery attempts, newest first",
          description:
            'Each attempt: time, status code, duration, the first bytes of the answer, the error. ' +
            'Replay a delivery with `POST /v1/deliveries/{jobId}/replay`, or every failed one since ' +
            'a time with `POST /v1/deliveries/replay` and this `endpointId`.',
          tags: ['webhooks'],
          params: idParams,
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }),
          response: { 200: z.object({ items: z.array(attemptRecord) }), 404: errorBodySchema },
        },
      },
      async (request) => {
        const endpoint = await owned(request.params.id, request.tenantId);
        return { items: await store.attempts.list({ endpointId: endpoint.id, limit: request.query.limit }) };
      },
    );

    app.delete(
      '/v1/webhooks/:id',
      {
        config: { access: 'edit', audit: { resource: 'webhook', action: 'delete' } },
        schema: {
          summary: 'Delete a webhook endpoint and the subscriptions that use it',
          tags: ['webhooks'],
          params: idParams,
          response: { 204: z.null(), 404: errorBodySchema },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        await owned(id, request.tenantId);
        await store.endpoints.delete(id);
        return reply.code(204).send(null);
      },
    );
  };
}
