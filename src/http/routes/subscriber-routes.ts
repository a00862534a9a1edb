import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isEmailAddress } from '../../delivery/email/header-safety.ts';
import { AppError } from '../../errors.ts';
import type { Store } from '../../store/store.ts';
import { errorBodySchema } from '../error-handler.ts';
import { ownedRecord } from './owned-record.ts';

/**
 * Subscribers (`/v1/subscribers`): people or teams with an optional email address and a time
 * zone (digests and dates in emails use it). Deleting one deletes its subscriptions.
 */

export type SubscriberRoutesDeps = { store: Store };

/** True for an IANA time zone name this runtime knows (e.g. Europe/Berlin, UTC). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const timeZone = z
  .string()
  .refine(isTimeZone, { message: 'not an IANA time zone, e.g. Europe/Berlin or UTC' })
  .describe('IANA time zone');

const subscriberRecord = z
  .object({
    id: z.string(),
    name: z.string(),
    email: z.string().nullable(),
    timeZone: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Subscriber' });

const name = z.string().trim().min(1).max(200);
/** The address check the email channel makes before sending: an address taken here is one it sends to. */
const email = z
  .string()
  .max(254)
  .refine(isEmailAddress, 'an email address local@domain (a dot-atom local part of at most 64 characters)')
  .meta({ format: 'email' });
const idParams = z.object({ id: z.string().min(1) });

export function subscriberRoutes(deps: SubscriberRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;

  return async (app) => {
    app.post(
      '/v1/subscribers',
      {
        config: { access: 'edit', audit: { resource: 'subscriber', action: 'create' } },
        schema: {
          summary: 'Create a subscriber',
          tags: ['subscribers'],
          body: z.strictObject({
            name,
            email: email.nullable().optional(),
            timeZone: timeZone.default('UTC'),
          }),
          response: { 201: subscriberRecord, 400: errorBodySchema },
        },
      },
      async (request, reply) => {
        const subscriber = await store.subscribers.create({ tenantId: request.tenantId, ...request.body });
        return reply.code(201).send(subscriber);
      },
    );

    app.get(
      '/v1/subscribers',
      {
        config: { access: 'read' },
        schema: {
          summary: 'List subscribers',
          tags: ['subscribers'],
          response: { 200: z.object({ items: z.array(subscriberRecord) }) },
        },
      },
      async (request) => ({ items: await store.subscribers.list({ tenantId: request.tenantId }) }),
    );

    app.get(
      '/v1/subscribers/:id',
      {
        config: { access: 'read' },
        schema: {
          summary: 'One subscriber',
          tags: ['subscribers'],
          params: idParams,
          response: { 200: subscriberRecord, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        return ownedRecord(await store.subscribers.get(id), request.tenantId, 'subscriber', id);
      },
    );

    app.patch(
      '/v1/subscribers/:id',
      {
        config: { access: 'edit', audit: { resource: 'subscriber', action: 'update' } },
        schema: {
          summary: 'Change a subscriber',
          description:
            'Fields left out stay. Removing the email address of a subscriber with email subscriptions is refused (409).',
          tags: ['subscribers'],
          params: idParams,
          body: z.strictObject({
            name: name.optional(),
            email: email.nullable().optional(),
            timeZone: timeZone.optional(),
          }),
          response: {
            200: subscriberRecord,
            400: errorBodySchema,
            404: errorBodySchema,
            409: errorBodySchema,
          },
        },
      },
      async (request) => {
        const { id } = request.params;
        ownedRecord(await store.subscribers.get(id), request.tenantId, 'subscriber', id);
        const patch = request.body;
        if (patch.email === null) {
          const emailSubscriptions = await store.subscriptions.list({ subscriberId: id, channel: 'email' });
          if (emailSubscriptions.length > 0) {
            throw new AppError(
              'TOCSIN_CONFLICT',
              `subscriber ${JSON.stringify(id)} has email subscriptions; delete them before removing the address`,
              {
                details: {
                  field: 'body.email',
                  subscriptionIds: emailSubscriptions.map((subscription) => subscription.id),
                },
              },
            );
          }
        }
        return ownedRecord(
          await store.subscribers.update(id, {
            ...(patch.name === undefined ? {} : { name: patch.name }),
            ...(patch.email === undefined ? {} : { email: patch.email }),
            ...(patch.timeZone === undefined ? {} : { timeZone: patch.timeZone }),
          }),
          request.tenantId,
          'subscriber',
          id,
        );
      },
    );

    app.delete(
      '/v1/subscribers/:id',
      {
        config: { access: 'edit', audit: { resource: 'subscriber', action: 'delete' } },
        schema: {
          summary: 'Delete a subscriber and its subscriptions',
          tags: ['subscribers'],
          params: idParams,
          response: { 204: z.null(), 404: errorBodySchema },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        ownedRecord(await store.subscribers.get(id), request.tenantId, 'subscriber', id);
        await store.subscribers.delete(id);
        return reply.code(204).send(null);
      },
    );
  };
}
