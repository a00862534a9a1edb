import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { announceAlertState } from '../../delivery/websocket/alert-state.ts';
import { durationSchema, parseDuration, severities } from '../../rules/rule-schema.ts';
import type { Silence, SilenceState, Store } from '../../store/store.ts';
import { principalOf } from '../auth.ts';
import { errorBodySchema, invalidRequest } from '../error-handler.ts';
import { ownedRecord } from './owned-record.ts';

/**
 * Silences (`/v1/silences`, Alertmanager's idea): an alert a silence covers while it is active
 * is stored as silenced and not delivered. Expiring one (`DELETE`) ends it now; it stays listed
 * as expired.
 */

export type SilenceRoutesDeps = { store: Store; now?: () => Date };

const silenceStates = ['pending', 'active', 'expired'] as const;

/** A silence lasts a year at most (`duration`, or `endsAt` past `startsAt`). */
export const maxSilenceDuration = '365d';
const maxSilenceMs = parseDuration(maxSilenceDuration);
const duration = durationSchema(maxSilenceDuration, '90m, 2h, 7d');

const silenceMatchers = z
  .strictObject({
    ruleIds: z.array(z.string().min(1)).min(1).optional(),
    tags: z.array(z.string().min(1)).min(1).optional(),
    severities: z.array(z.enum(severities)).min(1).optional(),
    groups: z
      .array(z.string().nullable())
      .min(1)
      .optional()
      .describe('threshold group values; null matches alerts of rules without groupBy'),
  })
  .describe('every field given must match (AND); within a field any value may match (OR)');

const createSilenceBody = z
  .strictObject({
    matchers: silenceMatchers.refine(
      (matchers) => Object.values(matchers).some((value) => value !== undefined),
      {
        message: 'give at least one of ruleIds, tags, severities, groups',
      },
    ),
    startsAt: z.iso.datetime({ offset: true }).optional().describe('default: now'),
    endsAt: z.iso.datetime({ offset: true }).optional().describe('the end; or give duration'),
    duration: duration
      .optional()
      .describe(`how long from startsAt, e.g. 2h, at most ${maxSilenceDuration}; or give endsAt`),
    comment: z.string().max(2000).optional(),
  })
  .refine((body) => (body.endsAt === undefined) !== (body.duration === undefined), {
    message: 'give exactly one of endsAt and duration',
    path: ['endsAt'],
  });

export const silenceRecord = z
  .object({
    id: z.string(),
    matchers: silenceMatchers,
    startsAt: z.string(),
    endsAt: z.string(),
    state: z.enum(silenceStates),
    createdBy: z.string(),
    comment: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Silence' });

const idParams = z.object({ id: z.string().min(1) });

function stateAt(silence: Silence, now: Date): SilenceState {
  const at = now.getTime();
  // A pending silence expired early ends before it starts: expired wins.
  if (Date.parse(silence.endsAt) <= at) return 'expired';
  return Date.parse(silence.startsAt) > at ? 'pending' : 'active';
}

export function silenceRoutes(deps: SilenceRoutesDeps): FastifyPluginAsyncZod {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const view = (silence: Silence, at: Date) => ({ ...silence, state: stateAt(silence, at) });
  /** Every stream of the tenant hears of it, so pages mark the alerts it covers. */
  const announce = (silence: Silence, at: Date, change: 'silenced' | 'unsilenced') => {
    const { tenantId, ...record } = view(silence, at);
    return announceAlertState(store.changes, tenantId, { type: 'state', change, silence: record });
  };

  return async (app) => {
    app.post(
      '/v1/silences',
      {
        config: { access: 'edit', audit: { resource: 'silence', action: 'create' } },
        schema: {
          summary: 'Create a silence',
          tags: ['silences'],
          body: createSilenceBody,
          response: { 201: silenceRecord, 400: errorBodySchema },
        },
      },
      async (request, reply) => {
        const at = now();
        const body = request.body;
        const startsAt = body.startsAt === undefined ? at : new Date(body.startsAt);
        const endsAt =
          body.endsAt === undefined
            ? new Date(startsAt.getTime() + parseDuration(body.duration!))
            : new Date(body.endsAt);
        if (endsAt.getTime() <= startsAt.getTime())
          throw invalidRequest('body.endsAt', 'must be after startsAt');
        if (endsAt.getTime() - startsAt.getTime() > maxSilenceMs)
          throw invalidRequest('body.endsAt', `a silence lasts at most ${maxSilenceDuration}`);
        const silence = await store.silences.create({
          tenantId: request.tenantId,
          matchers: body.matchers,
          startsAt: startsAt.toISOString(),
          endsAt: endsAt.toISOString(),
          createdBy: principalOf(request).name,
          comment: body.comment ?? null,
        });
        await announce(silence, at, 'silenced');
        return reply.code(201).send(view(silence, at));
      },
    );

    app.get(
      '/v1/silences',
      {
        config: { access: 'read' },
        schema: {
          summary: 'List silences, newest first',
          tags: ['silences'],
          querystring: z.object({ state: z.enum(silenceStates).optional() }),
          response: { 200: z.object({ items: z.array(silenceRecord) }) },
        },
      },
      async (request) => {
        const at = now();
        const silences = await store.silences.list({
          tenantId: request.tenantId,
          now: at,
          ...(request.query.state === undefined ? {} : { state: request.query.state }),
        });
        return { items: silences.map((silence) => view(silence, at)) };
      },
    );

    app.get(
      '/v1/silences/:id',
      {
        config: { access: 'read' },
        schema: {
          summary: 'One silence',
          tags: ['silences'],
          params: idParams,
          response: { 200: silenceRecord, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        return view(ownedRecord(await store.silences.get(id), request.tenantId, 'silence', id), now());
      },
    );

    app.delete(
      '/v1/silences/:id',
      {
        config: { access: 'edit', audit: { resource: 'silence', action: 'delete' } },
        schema: {
          summary: 'Expire a silence now',
          description: 'Ends it now (an expired one is left as it is) and answers the silence.',
          tags: ['silences'],
          params: idParams,
          response: { 200: silenceRecord, 404: errorBodySchema },
        },
      },
      async (request) => {
        const { id } = request.params;
        ownedRecord(await store.silences.get(id), request.tenantId, 'silence', id);
        const at = now();
        const expired = ownedRecord(await store.silences.expire(id, at), request.tenantId, 'silence', id);
        await announce(expired, at, 'unsilenced');
        return view(expired, at);
      },
    );
  };
}
