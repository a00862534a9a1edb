import type { Selectable } from 'kysely';
import { newId, type StoreContext, toIso } from '../context.ts';
import type { SubscriberTable } from '../schema.ts';
import { DEFAULT_TENANT, type Subscriber, type SubscriberStore } from '../store.ts';

function subscriberFromRow(row: Selectable<SubscriberTable>): Subscriber {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    email: row.email,
    timeZone: row.time_zone,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

export function createSubscriberGroup(ctx: StoreContext): SubscriberStore {
  const { db } = ctx;

  return {
    async create(input) {
      const now = ctx.now().getTime();
      const row = await db
        .insertInto('subscribers')
        .values({
          id: newId('sub'),
          tenant_id: input.tenantId ?? DEFAULT_TENANT,
          name: input.name,
          email: input.email ?? null,
          time_zone: input.timeZone ?? 'UTC',
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return subscriberFromRow(row);
    },

    async get(id) {
      const row = await db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? subscriberFromRow(row) : undefined;
    },

    async list(scope = {}) {
      const rows = await db
        .selectFrom('subscribers')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map(subscriberFromRow);
    },

    async update(id, patch) {
      const row = await db
        .updateTable('subscribers')
        .set({
          ...(patch.name !== undefined && { name: patch.name }),
          ...(patch.email !== undefined && { email: patch.email }),
          ...(patch.timeZone !== undefined && { time_zone: patch.timeZone }),
          updated_at: ctx.now().getTime(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return row ? subscriberFromRow(row) : undefined;
    },

    async delete(id) {
      // Subscriptions go with it (foreign key ON DELETE CASCADE).
      const result = await db.deleteFrom('subscribers').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}
