import type { StoreContext } from './context.ts';
import type { PurgeResult, Retention } from './store.ts';

const dayMs = 86_400_000;

/**
 * Retention, one kind at a time, each in its own transaction. Deleting alerts cascades to
 * their delivery jobs, attempts and digest entries (foreign keys), and raises the alert
 * log's `purged_through`, so that a cursor from before it is reported expired rather than
 * silently resumed past a hole.
 */
export async function purgeExpired(ctx: StoreContext, retention: Retention, now: Date): Promise<PurgeResult> {
  const cutoff = (days: number) => now.getTime() - days * dayMs;
  const alertsBefore = cutoff(retention.alertsDays);
  const deliveriesBefore = cutoff(retention.deliveryLogDays);

  const alerts = await ctx.transaction(async (trx) => {
    const newest = await trx
      .selectFrom('alerts')
      .select((eb) => eb.fn.max('position').as('position'))
      .where('received_at', '<', alertsBefore)
      .executeTakeFirst();
    if (newest?.position === null || newest?.position === undefined) return 0;
    const purgedThrough = Number(newest.position);
    const deleted = await trx.deleteFrom('alerts').where('received_at', '<', alertsBefore).executeTakeFirst();
    // Last, so the counter row (which alert commits queue on) is locked only briefly.
    await trx
      .updateTable('alert_log_counter')
      .set({ purged_through: purgedThrough })
      .where('id', '=', 1)
      .where('purged_through', '<', purgedThrough)
      .execute();
    return Number(deleted.numDeletedRows);
  });

  const ledger = await ctx.db
    .deleteFrom('dedup_ledger')
    .where('recorded_at', '<', cutoff(retention.ledgerDays))
    .executeTakeFirst();
  // Owner groups untouched for as long (a group's own ledger prunes itself; this drops the
  // groups of deleted rules and of values that never came back).
  const ownerGroups = await ctx.db
    .deleteFrom('owner_groups')
    .where('updated_at', '<', cutoff(retention.ledgerDays))
    .executeTakeFirst();
  const attempts = await ctx.db
    .deleteFrom('delivery_attempts')
    .where('at', '<', deliveriesBefore)
    .executeTakeFirst();
  const jobs = await ctx.db
    .deleteFrom('delivery_jobs')
    .where('status', 'in', ['sent', 'failed', 'dead'])
    .where('updated_at', '<', deliveriesBefore)
    .executeTakeFirst();

  const audit =
    retention.auditDays === undefined
      ? 0
      : Number(
          (
            await ctx.db
              .deleteFrom('audit_log')
              .where('at', '<', cutoff(retention.auditDays))
              .executeTakeFirst()
          ).numDeletedRows,
        );

  return {
    alerts,
    audit,
    ledger: Number(ledger.numDeletedRows) + Number(ownerGroups.numDeletedRows),
    jobs: Number(jobs.numDeletedRows),
    attempts: Number(attempts.numDeletedRows),
  };
}
