import type { Insertable, Kysely, Selectable } from 'kysely';
import { alertFromRow } from '../alert-log.ts';
import { type StoreContext, toIso, toMillis } from '../context.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { AckStateTable, Database } from '../schema.ts';
import { type AckState, type AlertStore, DEFAULT_TENANT } from '../store.ts';
import { deliveryJobFromRow } from './delivery-job-row.ts';

const asList = <T>(value: T | T[] | undefined): T[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

/** An acknowledged group is keyed by the alert's group, '' for none (never a real group value). */
export const ackGroupKey = (group: string | null): string => group ?? '';

export function ackStateFromRow(row: Selectable<AckStateTable>): AckState {
  return {
    tenantId: row.tenant_id,
    ruleId: row.rule_id,
    group: row.group_key === '' ? null : row.group_key,
    alertId: row.alert_id,
    ackedBy: row.acked_by,
    ackedAt: toIso(row.acked_at),
    lastAlertAt: toIso(row.last_alert_at),
  };
}

async function readCounter(db: Kysely<Database>) {
  return db
    .selectFrom('alert_log_counter')
    .select(['value', 'purged_through'])
    .where('id', '=', 1)
    .executeTakeFirstOrThrow();
}

export function createAlertGroup(ctx: StoreContext): AlertStore {
  const { db } = ctx;

  return {
    async get(id) {
      const row = await db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) return undefined;
      const jobs = await db
        .selectFrom('delivery_jobs')
        .selectAll()
        .where('alert_id', '=', id)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return { ...alertFromRow(row), deliveries: jobs.map(deliveryJobFromRow) };
    },

    async list(query = {}) {
      const limit = Math.min(Math.max(query.limit ?? 50, 1), 1000);
      const severities = asList(query.severity);
      const statuses = asList(query.status);
      const rows = await db
        .selectFrom('alerts')
        .selectAll()
        .where('tenant_id', '=', query.tenantId ?? DEFAULT_TENANT)
        .$if(query.ruleId !== undefined, (qb) => qb.where('rule_id', '=', query.ruleId!))
        .$if(severities !== undefined, (qb) => qb.where('severity', 'in', severities!))
        .$if(statuses !== undefined, (qb) => qb.where('status', 'in', statuses!))
        .$if(query.from !== undefined, (qb) => qb.where('received_at', '>=', toMillis(query.from!)))
        .$if(query.to !== undefined, (qb) => qb.where('received_at', '<', toMillis(query.to!)))
        .$if(query.cursor !== undefined, (qb) => qb.where('position', '<', decodeCursor(query.cursor!)))
        .orderBy('position', 'desc')
        .limit(limit + 1)
        .execute();
      const items = rows.slice(0, limit).map(alertFromRow);
      return { items, nextCursor: rows.length > limit ? items.at(-1)!.cursor : null };
    },

    async countByRule(windows, scope = {}) {
      if (windows.length === 0) return [];
      const starts = windows.map((from) => toMillis(from));
      const oldest = Math.min(...starts);
      const rows = await db
        .selectFrom('alerts')
        .select('rule_id')
        .select((eb) =>
          starts.map((start, i) =>
            eb.fn
              .sum<number | string>(eb.case().when('received_at', '>=', start).then(1).else(0).end())
              .as(`w${i}`),
          ),
        )
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .where('received_at', '>=', oldest)
        // Alerts a throttle suppressed are records, not alerts anyone was told of.
        .where('status', '!=', 'suppressed')
        .groupBy('rule_id')
        .orderBy('rule_id')
        .execute();
      return rows.map((row) => {
        const record = row as Record<string, unknown>;
        return { ruleId: row.rule_id, counts: starts.map((_, i) => Number(record[`w${i}`] ?? 0)) };
      });
    },

    async after(cursor, limit, scope = {}) {
      const rows = await db
        .selectFrom('alerts')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .where('position', '>', cursor === null ? 0 : decodeCursor(cursor))
        .orderBy('position')
        .limit(Math.max(limit, 1))
        .execute();
      return rows.map(alertFromRow);
    },

    async headCursor() {
      const newest = await db
        .selectFrom('alerts')
        .select((eb) => eb.fn.max('position').as('position'))
        .executeTakeFirst();
      const { purged_through } = await readCounter(db);
      return encodeCursor(Math.max(Number(newest?.position ?? 0), purged_through));
    },

    async oldestCursor() {
      return encodeCursor((await readCounter(db)).purged_through);
    },

    async isCursorExpired(cursor) {
      const position = decodeCursor(cursor);
      return position < (await readCounter(db)).purged_through;
    },

    async ack(id, by, at) {
      const atMs = at.getTime();
      return ctx.transaction(async (trx) => {
        const row = await trx
          .updateTable('alerts')
          .set({ acked_by: by, acked_at: atMs })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        if (!row) return undefined;
        const newest = await trx
          .selectFrom('alerts')
          .select((eb) => eb.fn.max('received_at').as('at'))
          .where('tenant_id', '=', row.tenant_id)
          .where('rule_id', '=', row.rule_id)
          .where('group_label', row.group_label === null ? 'is' : '=', row.group_label)
          .executeTakeFirst();
        const values: Insertable<AckStateTable> = {
          tenant_id: row.tenant_id,
          rule_id: row.rule_id,
          group_key: ackGroupKey(row.group_label),
          alert_id: row.id,
          acked_by: by,
          acked_at: atMs,
          last_alert_at: Number(newest?.at ?? row.received_at),
        };
        const ack = await trx
          .insertInto('ack_states')
          .values(values)
          .onConflict((oc) =>
            oc.columns(['tenant_id', 'rule_id', 'group_key']).doUpdateSet({
              alert_id: values.alert_id,
              acked_by: values.acked_by,
              acked_at: values.acked_at,
              last_alert_at: values.last_alert_at,
            }),
          )
          .returningAll()
          .executeTakeFirstOrThrow();
        return { alert: alertFromRow(row), ack: ackStateFromRow(ack) };
      });
    },

    async ackState(ruleId, group, scope = {}) {
      const row = await db
        .selectFrom('ack_states')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .where('rule_id', '=', ruleId)
        .where('group_key', '=', ackGroupKey(group))
        .executeTakeFirst();
      return row ? ackStateFromRow(row) : undefined;
    },

    async ackStates(scope = {}) {
      const rows = await db
        .selectFrom('ack_states')
        .selectAll()
        .where('tenant_id', '=', scope.tenantId ?? DEFAULT_TENANT)
        .execute();
      return rows.map(ackStateFromRow);
    },
  };
}
