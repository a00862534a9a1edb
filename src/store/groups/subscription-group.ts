import type { Selectable, Updateable } from 'kysely';
import type { Severity } from '../../rules/rule-schema.ts';
import {
  decodeFlag,
  decodeJsonOrNull,
  encodeFlag,
  encodeJson,
  newId,
  type StoreContext,
  toIso,
} from '../context.ts';
import type { SubscriptionTable } from '../schema.ts';
import {
  type Channel,
  DEFAULT_TENANT,
  type DeliveryMode,
  type Subscription,
  type SubscriptionStore,
} from '../store.ts';

function subscriptionFromRow(row: Selectable<SubscriptionTable>): Subscription {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    subscriberId: row.subscriber_id,
    ruleIds: decodeJsonOrNull<string[]>(row.rule_ids),
    tags: decodeJsonOrNull<string[]>(row.tags),
    minSeverity: row.min_severity as Severity,
    channel: row.channel as Channel,
    endpointId: row.endpoint_id,
    mode: row.mode as DeliveryMode,
    dailyHour: row.daily_hour,
    unsubscribed: decodeFlag(row.unsubscribed),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

const jsonOrNull = (value: string[] | null | undefined): string | null =>
  value === null || value === undefined ? null : encodeJson(value);

export function createSubscriptionGroup(ctx: StoreContext): SubscriptionStore {
  const { db } = ctx;
  const update = async (id: string, set: Updateable<SubscriptionTable>) => {
    const row = await db
      .updateTable('subscriptions')
      .set({ ...set, updated_at: ctx.now().getTime() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ? subscriptionFromRow(row) : undefined;
  };

  return {
    async create(input) {
      const now = ctx.now().getTime();
      const row = await db
        .insertInto('subscriptions')
        .values({
          id: newId('subn'),
          tenant_id: input.tenantId ?? DEFAULT_TENANT,
          subscriber_id: input.subscriberId,
          rule_ids: jsonOrNull(input.ruleIds),
          tags: jsonOrNull(input.tags),
          min_severity: input.minSeverity ?? 'info',
          channel: input.channel,
          endpoint_id: input.endpointId ?? null,
          mode: input.mode ?? 'immediate',
          daily_hour: input.dailyHour ?? null,
          unsubscribed: encodeFlag(false),
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return subscriptionFromRow(row);
    },

    async get(id) {
      const row = await db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? subscriptionFromRow(row) : undefined;
    },

    async list(query = {}) {
      const rows = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT)
        .$if(query.subscriberId !== undefined, (qb) => qb.where('subscriber_id', '=', query.subscriberId!))
        .$if(query.channel !== undefined, (qb) => qb.where('channel', '=', query.channel!))
        .$if(!query.includeUnsubscribed, (qb) => qb.where('unsubscribed', '=', encodeFlag(false)))
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(subscriptionFromRow);
    },

    update(id, patch) {
      return update(id, {
        ...(patch.ruleIds !== undefined && { rule_ids: jsonOrNull(patch.ruleIds) }),
        ...(patch.tags !== undefined && { tags: jsonOrNull(patch.tags) }),
        ...(patch.minSeverity !== undefined && { min_severity: patch.minSeverity }),
        ...(patch.channel !== undefined && { channel: patch.channel }),
        ...(patch.endpointId !== undefined && { endpoint_id: patch.endpointId }),
        ...(patch.mode !== undefined && { mode: patch.mode }),
        ...(patch.dailyHour !== undefined && { daily_hour: patch.dailyHour }),
      });
    },

    async delete(id) {
      const result = await db.deleteFrom('subscriptions').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    unsubscribe(id) {
      return update(id, { unsubscribed: encodeFlag(true) });
    },

    async unsubscribeAll(subscriberId, channel) {
      const result = await db
        .updateTable('subscriptions')
        .set({ unsubscribed: encodeFlag(true), updated_at: ctx.now().getTime() })
        .where('subscriber_id', '=', subscriberId)
        .where('channel', '=', channel)
        .where('unsubscribed', '=', encodeFlag(false))
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
  };
}
