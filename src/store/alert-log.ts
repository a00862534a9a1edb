import type { Insertable, Kysely, Selectable } from 'kysely';
import type { EventSnapshot, MatchExplanation } from '../alerts/alert.ts';
import { type Severity, severityRank } from '../rules/rule-schema.ts';
import {
  chunk,
  decodeFlag,
  decodeJson,
  encodeFlag,
  encodeJson,
  toIso,
  toIsoOrNull,
  toMillis,
} from './context.ts';
import { encodeCursor } from './cursor.ts';
import type { AlertTable, Database } from './schema.ts';
import { type AlertInput, type AlertStatus, DEFAULT_TENANT, type StoredAlert } from './store.ts';

/**
 * The alert log: every alert has a `position`, and positions follow COMMIT order.
 *
 * Why not a sequence: PostgreSQL hands out sequence values when a transaction asks, not when
 * it commits. If T1 takes 41, T2 takes 42 and commits, a reader that has seen 42 moves on and
 * never sees 41 when T1 commits later.
 *
 * Invariant: a transaction that inserts alerts first runs
 *   UPDATE alert_log_counter SET value = value + n WHERE id = 1 RETURNING value
 * and takes positions (value - n, value]. The row lock it takes is held until it commits or
 * rolls back, so a second such transaction waits at that statement, then reads the value
 * the first one committed (READ COMMITTED re-reads the updated row). Hence a transaction
 * with higher positions commits after every transaction with lower positions has finished,
 * and PostgreSQL makes a commit visible before it releases its locks: once a reader sees
 * position P, every position below P is either visible or will never exist (rolled back,
 * or reserved for an alert id that turned out to be a duplicate). Gaps are harmless; a
 * reader asks for `position > cursor` and never misses a row.
 *
 * The counter update comes late in the pipeline's transaction, so the lock is held briefly.
 * SQLite has one writer at a time, so the same statement is trivially ordered there.
 */
export async function appendAlerts(
  trx: Kysely<Database>,
  alerts: readonly AlertInput[],
  defaultTenant = DEFAULT_TENANT,
): Promise<StoredAlert[]> {
  // The first of an id wins, as against an alert stored by an earlier batch.
  const unique: AlertInput[] = [];
  const ids = new Set<string>();
  for (const alert of alerts) {
    if (ids.has(alert.id)) continue;
    ids.add(alert.id);
    unique.push(alert);
  }
  if (unique.length === 0) return [];

  // Skip alerts already stored (a replay) before reserving positions; a concurrent insert of
  // the same id is still caught by ON CONFLICT below and only leaves a gap.
  const existing = new Set<string>();
  for (const ids of chunk(
    unique.map((alert) => alert.id),
    500,
  )) {
    const rows = await trx.selectFrom('alerts').select('id').where('id', 'in', ids).execute();
    for (const row of rows) existing.add(row.id);
  }
  const fresh = unique.filter((alert) => !existing.has(alert.id));
  if (fresh.length === 0) return [];

  const { value: top } = await trx
    .updateTable('alert_log_counter')
    .set((eb) => ({ value: eb('value', '+', fresh.length) }))
    .where('id', '=', 1)
    .returning('value')
    .executeTakeFirstOrThrow();
  const first = top - fresh.length + 1;

  const inserted: Selectable<AlertTable>[] = [];
  for (const rows of chunk(fresh.map((alert, i) => alertRowOf(alert, first + i, defaultTenant)))) {
    const done = await trx
      .insertInto('alerts')
      .values(rows)
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .execute();
    inserted.push(...done);
  }
  return inserted.sort((a, b) => a.position - b.position).map(alertFromRow);
}

function alertRowOf(alert: AlertInput, position: number, defaultTenant: string): Insertable<AlertTable> {
  return {
    id: alert.id,
    tenant_id: alert.tenantId ?? defaultTenant,
    position,
    rule_id: alert.ruleId,
    rule_name: alert.ruleName,
    severity: alert.severity,
    severity_rank: severityRank[alert.severity],
    tags: encodeJson(alert.tags),
    group_label: alert.group,
    event_ids: encodeJson(alert.eventIds),
    event_time: toMillis(alert.eventTime),
    event: encodeJson(alert.event),
    matches: encodeJson(alert.matches),
    suppressed: encodeFlag(alert.suppressed),
    status: alert.status,
    received_at: toMillis(alert.receivedAt),
    acked_by: null,
    acked_at: null,
  };
}

/** `eventTime` and `receivedAt` come back normalised to UTC (`…Z`). */
export function alertFromRow(row: Selectable<AlertTable>): StoredAlert {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    ruleId: row.rule_id,
    ruleName: row.rule_name,
    severity: row.severity as Severity,
    tags: decodeJson<string[]>(row.tags),
    group: row.group_label,
    eventIds: decodeJson<string[]>(row.event_ids),
    eventTime: toIso(row.event_time),
    matches: decodeJson<MatchExplanation[]>(row.matches),
    event: decodeJson<EventSnapshot>(row.event),
    suppressed: decodeFlag(row.suppressed),
    status: row.status as AlertStatus,
    receivedAt: toIso(row.received_at),
    cursor: encodeCursor(row.position),
    ackedBy: row.acked_by,
    ackedAt: toIsoOrNull(row.acked_at),
  };
}
