import type { Insertable, Kysely } from 'kysely';
import { appendAlerts } from '../alert-log.ts';
import { announceChange } from '../change-feed.ts';
import { chunk, decodeJson, encodeJson, type StoreContext, toMillis } from '../context.ts';
import { deliveryJobId } from '../delivery-ids.ts';
import type { Database, DeliveryJobTable, GroupStateTable } from '../schema.ts';
import { type CommitBatch, DEFAULT_TENANT, type PipelineStore } from '../store.ts';
import { withStoreErrors } from '../store-errors.ts';
import { ackGroupKey, ackStateFromRow } from './alert-group.ts';
import { insertDigestEntries } from './digest-group.ts';

export function createPipelineGroup(ctx: StoreContext): PipelineStore {
  const { db } = ctx;

  return {
    commit(batch) {
      const tenant = batch.tenantId ?? DEFAULT_TENANT;
      const now = ctx.now().getTime();
      return withStoreErrors('pipeline commit', () =>
        ctx.transaction(async (trx) => {
          await writeEngineState(trx, batch, tenant, now);
          await writeAcks(trx, batch, tenant);
          // The alert log's counter lock is taken here and held until commit: keep what
          // follows short (alert-log.ts explains the ordering).
          const alerts = await appendAlerts(trx, batch.alerts, tenant);
          // Other instances' WebSocket hubs drain at this commit instead of their next poll.
          if (alerts.length > 0) await announceChange(trx, ctx.dialect, 'alerts', '', { versioned: false });
          const jobsCreated = await insertJobs(trx, batch, tenant, now);
          await insertDigestEntries(trx, batch.digestEntries ?? [], tenant);
          return { alerts, jobsCreated };
        }),
      );
    },

    async loadState(scope = {}) {
      const tenant = scope.tenantId ?? DEFAULT_TENANT;
      const ledger = await db
        .selectFrom('dedup_ledger')
        .select(['rule_id', 'event_id', 'event_time'])
        .where('tenant_id', '=', tenant)
        .orderBy('rule_id')
        .orderBy('event_time')
        .execute();
      const groups = await db
        .selectFrom('group_states')
        .select(['rule_id', 'group_key', 'state'])
        .where('tenant_id', '=', tenant)
        .orderBy('rule_id')
        .orderBy('group_key')
        .execute();
      const acks = await db.selectFrom('ack_states').selectAll().where('tenant_id', '=', tenant).execute();
      return {
        ledger: ledger.map((row) => ({
          ruleId: row.rule_id,
          eventId: row.event_id,
          eventTime: row.event_time,
        })),
        groupStates: groups.map((row) => ({
          ruleId: row.rule_id,
          group: row.group_key,
          state: decodeJson(row.state),
        })),
        acks: acks.map(ackStateFromRow),
      };
    },
  };
}

/**
 * Every row write of a batch goes in one order: tables in a fixed order (ledger, group states,
 * acknowledgement holds, then the log counter, alerts, jobs, digest entries), and within a
 * table by key, deletes and upserts interleaved in that same key order. Two instances
 * committing overlapping keys therefore lock them in the same order and cannot deadlock each
 * other (PostgreSQL would abort one with 40P01).
 */
async function writeEngineState(trx: Kysely<Database>, batch: CommitBatch, tenant: string, now: number) {
  for (const ruleId of (batch.forgottenRules ?? []).toSorted()) {
    await trx
      .deleteFrom('dedup_ledger')
      .where('tenant_id', '=', tenant)
      .where('rule_id', '=', ruleId)
      .execute();
  }
  const ledger = batch.ledger.toSorted((a, b) => compareKeys([a.ruleId, a.eventId], [b.ruleId, b.eventId]));
  for (const rows of chunk(ledger, 500)) {
    await trx
      .insertInto('dedup_ledger')
      .values(
        rows.map((entry) => ({
          tenant_id: tenant,
          rule_id: entry.ruleId,
          event_id: entry.eventId,
          event_time: entry.eventTime,
          recorded_at: now,
        })),
      )
      .onConflict((oc) => oc.columns(['tenant_id', 'rule_id', 'event_id']).doNothing())
      .execute();
  }
  for (const ruleId of (batch.forgottenRules ?? []).toSorted()) {
    await trx
      .deleteFrom('group_states')
      .where('tenant_id', '=', tenant)
      .where('rule_id', '=', ruleId)
      .execute();
  }
  // The last change of a group wins; one statement must not touch a row twice.
  const latest = new Map(
    batch.groupStates.map((change) => [JSON.stringify([change.ruleId, change.group]), change]),
  );
  const ordered = [...latest.values()].sort((a, b) => compareKeys([a.ruleId, a.group], [b.ruleId, b.group]));
  // Runs of upserts between two deletes share a statement; a multi-row upsert locks its rows
  // in the order of its VALUES, which is key order here.
  let upserts: Insertable<GroupStateTable>[] = [];
  const flushUpserts = async () => {
    for (const rows of chunk(upserts, 500)) {
      await trx
        .insertInto('group_states')
        .values(rows)
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'rule_id', 'group_key']).doUpdateSet((eb) => ({
            state: eb.ref('excluded.state'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
    }
    upserts = [];
  };
  for (const change of ordered) {
    if (change.state !== null) {
      upserts.push({
        tenant_id: tenant,
        rule_id: change.ruleId,
        group_key: change.group,
        state: encodeJson(change.state),
        updated_at: now,
      });
      continue;
    }
    await flushUpserts();
    await trx
      .deleteFrom('group_states')
      .where('tenant_id', '=', tenant)
      .where('rule_id', '=', change.ruleId)
      .where('group_key', '=', change.group)
      .execute();
  }
  await flushUpserts();
}

async function writeAcks(trx: Kysely<Database>, batch: CommitBatch, tenant: string) {
  // The last change of a hold wins, in key order (see writeEngineState).
  const byKey = [
    ...new Map(
      (batch.acks ?? []).map((change) => [
        JSON.stringify([change.ruleId, ackGroupKey(change.group)]),
        change,
      ]),
    ).values(),
  ];
  byKey.sort((a, b) => compareKeys([a.ruleId, ackGroupKey(a.group)], [b.ruleId, ackGroupKey(b.group)]));
  for (const change of byKey) {
    const group = ackGroupKey(change.group);
    if (change.lastAlertAt === null) {
      await trx
        .deleteFrom('ack_states')
        .where('tenant_id', '=', tenant)
        .where('rule_id', '=', change.ruleId)
        .where('group_key', '=', group)
        .execute();
    } else {
      await trx
        .updateTable('ack_states')
        .set({ last_alert_at: toMillis(change.lastAlertAt) })
        .where('tenant_id', '=', tenant)
        .where('rule_id', '=', change.ruleId)
        .where('group_key', '=', group)
        .execute();
    }
  }
}

async function insertJobs(trx: Kysely<Database>, batch: CommitBatch, tenant: string, now: number) {
  let created = 0;
  const rows: Insertable<DeliveryJobTable>[] = batch.jobs.map((job) => ({
    id: job.id ?? deliveryJobId(job.alertId, job.subscriptionId),
    tenant_id: job.tenantId ?? tenant,
    kind: 'alert',
    alert_id: job.alertId,
    subscription_id: job.subscriptionId,
    channel: job.channel,
    endpoint_id: job.endpointId ?? null,
    status: 'pending',
    attempts: 0,
    next_attempt_at: job.nextAttemptAt === undefined ? now : toMillis(job.nextAttemptAt),
    lease_until: null,
    lease_token: null,
    last_error: null,
    created_at: now,
    updated_at: now,
  }));
  rows.sort((a, b) => compareKeys([a.id], [b.id]));
  for (const part of chunk(rows)) {
    const inserted = await trx
      .insertInto('delivery_jobs')
      .values(part)
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .execute();
    created += inserted.length;
  }
  return created;
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}
