import { randomUUID } from 'node:crypto';
import { sql, type UpdateObject } from 'kysely';
import type { StoreContext } from '../context.ts';
import { decodeKeysetCursor, keysetPage, keysetPageSize } from '../keyset-cursor.ts';
import type { Database } from '../schema.ts';
import {
  type ClaimedJob,
  DEFAULT_TENANT,
  type DeliveryStatus,
  type DeliveryStore,
  type LeaseCheck,
} from '../store.ts';
import { withStoreErrors } from '../store-errors.ts';
import { deliveryJobFromRow } from './delivery-job-row.ts';

const statuses: DeliveryStatus[] = ['pending', 'sending', 'sent', 'failed', 'dead'];

/**
 * The outbox. A job is claimed by setting it `sending` with a lease and a fresh lease token,
 * inside one transaction:
 * - PostgreSQL: `SELECT … FOR UPDATE SKIP LOCKED` picks due rows that no other claimer holds;
 *   a row that another claimer has just updated and committed is re-checked against the WHERE
 *   (READ COMMITTED re-evaluates locked rows), so it is skipped once it is `sending`.
 * - SQLite: `BEGIN IMMEDIATE` makes the select and update one writer's work.
 * A worker that crashes leaves its job `sending`; once `lease_until` passes, `claim` hands it
 * to another worker, and the old worker's token no longer finishes it.
 */
export function createDeliveryGroup(ctx: StoreContext): DeliveryStore {
  const { db } = ctx;

  const finish = async (id: string, set: UpdateObject<Database, 'delivery_jobs'>, check: LeaseCheck = {}) => {
    const result = await db
      .updateTable('delivery_jobs')
      .set({ ...set, lease_until: null, lease_token: null, updated_at: ctx.now().getTime() })
      .where('id', '=', id)
      .where('status', '=', 'sending')
      .$if(check.leaseToken !== undefined, (qb) => qb.where('lease_token', '=', check.leaseToken!))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  };

  return {
    async get(id) {
      const row = await db.selectFrom('delivery_jobs').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? deliveryJobFromRow(row) : undefined;
    },

    async list(query = {}) {
      const limit = keysetPageSize(query.limit);
      const after = query.cursor === undefined ? undefined : decodeKeysetCursor(query.cursor);
      const rows = await db
        .selectFrom('delivery_jobs')
        .selectAll()
        .where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT)
        .$if(query.status !== undefined, (qb) => qb.where('status', '=', query.status!))
        .$if(query.alertId !== undefined, (qb) => qb.where('alert_id', '=', query.alertId!))
        .$if(query.endpointId !== undefined, (qb) => qb.where('endpoint_id', '=', query.endpointId!))
        .$if(query.subscriptionId !== undefined, (qb) =>
          qb.where('subscription_id', '=', query.subscriptionId!),
        )
        .$if(after !== undefined, (qb) =>
          qb.where((eb) =>
            eb.or([
              eb('created_at', '<', after![0]),
              eb.and([eb('created_at', '=', after![0]), eb('id', '<', after![1])]),
            ]),
          ),
        )
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      return keysetPage(rows, limit, (row) => row.created_at, deliveryJobFromRow);
    },

    claim(now, limit, leaseMs, filter = {}) {
      const nowMs = now.getTime();
      return withStoreErrors('delivery claim', () =>
        ctx.transaction(async (trx) => {
          const due = await trx
            .selectFrom('delivery_jobs')
            .select('id')
            .where((eb) =>
              eb.or([
                eb.and([eb('status', '=', 'pending'), eb('next_attempt_at', '<=', nowMs)]),
                eb.and([eb('status', '=', 'sending'), eb('lease_until', '<=', nowMs)]),
              ]),
            )
            .$if(filter.channel !== undefined, (qb) => qb.where('channel', '=', filter.channel!))
            .orderBy('next_attempt_at')
            .limit(Math.max(limit, 1))
            .$if(ctx.dialect === 'postgres', (qb) => qb.forUpdate().skipLocked())
            .execute();
          if (due.length === 0) return [];
          const leaseToken = randomUUID();
          const rows = await trx
            .updateTable('delivery_jobs')
            .set((eb) => ({
              status: 'sending',
              attempts: eb('attempts', '+', 1),
              lease_until: nowMs + leaseMs,
              lease_token: leaseToken,
              updated_at: nowMs,
            }))
            .where(
              'id',
              'in',
              due.map((row) => row.id),
            )
            .returningAll()
            .execute();
          return rows
            .sort((a, b) => a.next_attempt_at - b.next_attempt_at || a.id.localeCompare(b.id))
            .map((row): ClaimedJob => ({ ...deliveryJobFromRow(row), leaseToken }));
        }),
      );
    },

    complete(id, check) {
      return finish(id, { status: 'sent' }, check);
    },

    retry(id, nextAttemptAt, error, check) {
      return finish(
        id,
        { status: 'pending', next_attempt_at: nextAttemptAt.getTime(), last_error: error },
        check,
      );
    },

    release(id, nextAttemptAt, reason, check) {
      return finish(
        id,
        {
          status: 'pending',
          next_attempt_at: nextAttemptAt.getTime(),
          last_error: reason,
          // The claim counted an attempt that never happened.
          attempts: sql<number>`case when attempts > 0 then attempts - 1 else 0 end`,
        },
        check,
      );
    },

    fail(id, error, check) {
      return finish(id, { status: 'failed', last_error: error }, check);
    },

    deadLetter(id, error, check) {
      return finish(id, { status: 'dead', last_error: error }, check);
    },

    async replay(id, now) {
      const row = await db
        .updateTable('delivery_jobs')
        .set({
          status: 'pending',
          attempts: 0,
          next_attempt_at: now.getTime(),
          lease_until: null,
          lease_token: null,
          updated_at: now.getTime(),
        })
        .where('id', '=', id)
        .where('status', '!=', 'sending')
        .returningAll()
        .executeTakeFirst();
      return row ? deliveryJobFromRow(row) : undefined;
    },

    async replayFailed(query, now) {
      const result = await db
        .updateTable('delivery_jobs')
        .set({ status: 'pending', attempts: 0, next_attempt_at: now.getTime(), updated_at: now.getTime() })
        .where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT)
        .where('status', 'in', ['failed', 'dead'])
        .where('updated_at', '>=', query.since.getTime())
        .$if(query.endpointId !== undefined, (qb) => qb.where('endpoint_id', '=', query.endpointId!))
        .executeTakeFirst();
      return Number(result.numUpdatedRows);
    },

    async countByStatus() {
      const rows = await db
        .selectFrom('delivery_jobs')
        .select((eb) => ['status', eb.fn.countAll<number | string>().as('count')])
        .groupBy('status')
        .execute();
      const counts = Object.fromEntries(statuses.map((status) => [status, 0])) as Record<
        DeliveryStatus,
        number
      >;
      for (const row of rows) counts[row.status as DeliveryStatus] = Number(row.count);
      return counts;
    },
  };
}
