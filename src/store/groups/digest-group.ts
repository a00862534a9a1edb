import type { Kysely } from 'kysely';
import { alertFromRow } from '../alert-log.ts';
import { chunk, type StoreContext, toMillis } from '../context.ts';
import { digestJobId } from '../delivery-ids.ts';
import type { Database } from '../schema.ts';
import { DEFAULT_TENANT, type DigestEntryInput, type DigestStore } from '../store.ts';
import { deliveryJobFromRow } from './delivery-job-row.ts';

/**
 * Digests: alerts routed to an hourly or daily subscription wait as entries; at the end of a
 * period one delivery job takes every waiting entry. The job id is a function of
 * (subscription, period), so when several instances build the same digest, the insert of
 * all but one does nothing (PostgreSQL makes the others wait for the first, then skip).
 */
export function createDigestGroup(ctx: StoreContext): DigestStore {
  const { db } = ctx;

  return {
    add(entries) {
      return insertDigestEntries(db, entries, DEFAULT_TENANT);
    },

    build({ subscriptionId, periodKey, until, now }) {
      const nowMs = now.getTime();
      const id = digestJobId(subscriptionId, periodKey);
      return ctx.transaction(async (trx) => {
        const subscription = await trx
          .selectFrom('subscriptions')
          .select(['tenant_id', 'channel', 'endpoint_id'])
          .where('id', '=', subscriptionId)
          .executeTakeFirst();
        if (!subscription) return undefined;
        const waiting = trx
          .selectFrom('digest_entries')
          .where('subscription_id', '=', subscriptionId)
          .where('digest_job_id', 'is', null)
          .where('received_at', '<', until.getTime());
        const first = await waiting.select('alert_id').limit(1).executeTakeFirst();
        if (!first) return undefined;

        const job = await trx
          .insertInto('delivery_jobs')
          .values({
            id,
            tenant_id: subscription.tenant_id,
            kind: 'digest',
            alert_id: null,
            subscription_id: subscriptionId,
            channel: subscription.channel,
            endpoint_id: subscription.endpoint_id,
            status: 'pending',
            attempts: 0,
            next_attempt_at: nowMs,
            lease_until: null,
            lease_token: null,
            last_error: null,
            created_at: nowMs,
            updated_at: nowMs,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .returningAll()
          .executeTakeFirst();
        if (!job) return undefined;

        const taken = await trx
          .updateTable('digest_entries')
          .set({ digest_job_id: id })
          .where('subscription_id', '=', subscriptionId)
          .where('digest_job_id', 'is', null)
          .where('received_at', '<', until.getTime())
          .executeTakeFirst();
        if (taken.numUpdatedRows === 0n) {
          // Another period's digest took the entries meanwhile: no empty digest.
          await trx.deleteFrom('delivery_jobs').where('id', '=', id).execute();
          return undefined;
        }
        return deliveryJobFromRow(job);
      });
    },

    async alerts(jobId) {
      const rows = await db
        .selectFrom('digest_entries')
        .innerJoin('alerts', 'alerts.id', 'digest_entries.alert_id')
        .selectAll('alerts')
        .where('digest_entries.digest_job_id', '=', jobId)
        .orderBy('alerts.position', 'desc')
        .execute();
      return rows.map(alertFromRow);
    },
  };
}

/**
 * Adds entries to their subscriptions' next digests (`tenant` for an entry without its own). An
 * entry already waiting or digested (same subscription and alert) is left as it is, so adding
 * it again, e.g. when a batch is replayed, does nothing. Pipeline commits call it in their
 * transaction (`db` is then the transaction).
 */
export async function insertDigestEntries(
  db: Kysely<Database>,
  entries: readonly DigestEntryInput[],
  tenant: string,
): Promise<void> {
  for (const rows of chunk(entries, 500)) {
    await db
      .insertInto('digest_entries')
      .values(
        rows.map((entry) => ({
          tenant_id: entry.tenantId ?? tenant,
          subscription_id: entry.subscriptionId,
          alert_id: entry.alertId,
          received_at: toMillis(entry.receivedAt),
          digest_job_id: null,
        })),
      )
      .onConflict((oc) => oc.columns(['subscription_id', 'alert_id']).doNothing())
      .execute();
  }
}
