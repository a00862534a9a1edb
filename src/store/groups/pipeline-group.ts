import type { Insertable, Kysely } from 'kysely';
import { appendAlerts } from '../alert-log.ts';
import { announceChange } from '../change-feed.ts';
import { chunk, decodeJson, encodeJson, type StoreContext, toMillis } from '../context.ts';
import { deliveryJobId } from '../delivery-ids.ts';
import type { Database, DeliveryJobTable, GroupStateTable, OwnerGroupTable } from '../schema.ts';
import {
  type CommitBatch,
  DEFAULT_TENANT,
  type OwnerClaim,
  type OwnerCommit,
  type PipelineStore,
  type SourceMarks,
} from '../store.ts';
import { OwnerFencedError, withStoreErrors } from '../store-errors.ts';
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
          // The fence first: a stale owner's commit writes nothing, and while this row is locked
          // no other owner can take the partition (its epoch UPDATE waits for our commit).
          if (batch.owner) await writeOwnerState(ctx, trx, batch.owner, now);
          await writeEngineState(trx, batch, tenant, now);
          await writeAcks(trx, batch, tenant);
          // The alert log's counter lock is taken here and held until commit: keep what
          // follows short (alert-log.ts explains the ordering).
          const alerts = await appendAlerts(trx, batch.alerts, tenant);
          // Other instances' WebSocket hubs drain at this commit instead of their next poll.
          if (alerts.length > 0) await announceChange(trx, ctx.dialect, 'alerts', '', { versioned: false });
          // An alert of this batch that was already stored (a replay; a plain rule's (rule,
          // event) seen before) is dropped with its jobs and digest entries: whatever routing
          // says now, the first time decided (a suppressed alert never gets a job later).
          const inserted = new Set(alerts.map((alert) => alert.id));
          const batchIds = new Set(batch.alerts.map((alert) => alert.id));
          const keep = (alertId: string) => inserted.has(alertId) || !batchIds.has(alertId);
          const jobsCreated = await insertJobs(
            trx,
            { ...batch, jobs: batch.jobs.filter((job) => keep(job.alertId)) },
            tenant,
            now,
          );
          await insertDigestEntries(
            trx,
            (batch.digestEntries ?? []).filter((entry) => keep(entry.alertId)),
            tenant,
          );
          return { alerts, jobsCreated };
        }),
      );
    },

    claimPartition(topic, partition, owner) {
      return withStoreErrors('claim partition', () =>
        ctx.transaction(async (trx) => {
          const now = ctx.now().getTime();
          const taken = await trx
            .updateTable('owner_partitions')
            .set((eb) => ({ epoch: eb('epoch', '+', 1), owner, updated_at: now }))
            .where('topic', '=', topic)
            .where('partition', '=', partition)
            .returning(['epoch', 'next_offset', 'source_marks'])
            .executeTakeFirst();
          if (taken) return claimOf(taken);
          // First use: two owners inserting at once conflict; the loser bumps the winner's row.
          const inserted = await trx
            .insertInto('owner_partitions')
            .values({ topic, partition, epoch: 1, next_offset: -1, owner, updated_at: now })
            .onConflict((oc) =>
              oc.columns(['topic', 'partition']).doUpdateSet((eb) => ({
                epoch: eb('owner_partitions.epoch', '+', 1),
                owner: eb.ref('excluded.owner'),
                updated_at: eb.ref('excluded.updated_at'),
              })),
            )
            .returning(['epoch', 'next_offset', 'source_marks'])
            .executeTakeFirstOrThrow();
          return claimOf(inserted);
        }),
      );
    },

    async loadOwnerGroups(topic, partition) {
      const rows = await db
        .selectFrom('owner_groups')
        .select(['tenant_id', 'rule_id', 'group_key', 'state'])
        .where('topic', '=', topic)
        .where('partition', '=', partition)
        .orderBy('tenant_id')
        .orderBy('rule_id')
        .orderBy('group_key')
        .execute();
      return rows.map((row) => ({
        tenantId: row.tenant_id,
        ruleId: row.rule_id,
        group: row.group_key,
        state: decodeJson(row.state),
      }));
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

/**
 * Checks the fence (when the commit carries an epoch), moves the partition's next offset and
 * writes its changed groups in key order (deletes and upserts interleaved, as in
 * writeEngineState).
 */
async function writeOwnerState(ctx: StoreContext, trx: Kysely<Database>, owner: OwnerCommit, now: number) {
  const { topic, partition } = owner;
  if (owner.epoch !== undefined) {
    let query = trx
      .selectFrom('owner_partitions')
      .select('epoch')
      .where('topic', '=', topic)
      .where('partition', '=', partition);
    // SQLite's BEGIN IMMEDIATE already holds the one write lock.
    if (ctx.dialect === 'postgres') query = query.forUpdate();
    const row = await query.executeTakeFirst();
    const current = row === undefined ? undefined : Number(row.epoch);
    if (current !== owner.epoch) throw new OwnerFencedError(topic, partition, owner.epoch, current);
  }
  if (owner.nextOffset !== undefined || owner.sourceMarks !== undefined) {
    await trx
      .insertInto('owner_partitions')
      .values({
        topic,
        partition,
        epoch: 0,
        next_offset: owner.nextOffset ?? -1,
        owner: '',
        updated_at: now,
        source_marks: encodeJson(owner.sourceMarks ?? {}),
      })
      .onConflict((oc) =>
        oc.columns(['topic', 'partition']).doUpdateSet((eb) => ({
          ...(owner.nextOffset !== undefined ? { next_offset: eb.ref('excluded.next_offset') } : {}),
          ...(owner.sourceMarks !== undefined ? { source_marks: eb.ref('excluded.source_marks') } : {}),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
  const latest = new Map(
    owner.groups.map((change) => [JSON.stringify([change.tenantId, change.ruleId, change.group]), change]),
  );
  const ordered = [...latest.values()].sort((a, b) =>
    compareKeys([a.tenantId, a.ruleId, a.group], [b.tenantId, b.ruleId, b.group]),
  );
  let upserts: Insertable<OwnerGroupTable>[] = [];
  const flushUpserts = async () => {
    for (const rows of chunk(upserts, 500)) {
      await trx
        .insertInto('owner_groups')
        .values(rows)
        .onConflict((oc) =>
          oc.columns(['topic', 'partition', 'tenant_id', 'rule_id', 'group_key']).doUpdateSet((eb) => ({
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
        topic,
        partition,
        tenant_id: change.tenantId,
        rule_id: change.ruleId,
        group_key: change.group,
        state: encodeJson(change.state),
        updated_at: now,
      });
      continue;
    }
    await flushUpserts();
    await trx
      .deleteFrom('owner_groups')
      .where('topic', '=', topic)
      .where('partition', '=', partition)
      .where('tenant_id', '=', change.tenantId)
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

function claimOf(row: { epoch: number; next_offset: number; source_marks: string }): OwnerClaim {
  return {
    epoch: Number(row.epoch),
    nextOffset: Number(row.next_offset),
    sourceMarks: decodeJson<SourceMarks>(row.source_marks),
  };
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return 0;
}
