import type { Selectable } from 'kysely';
import { toIso, toIsoOrNull } from '../context.ts';
import type { DeliveryJobTable } from '../schema.ts';
import type { Channel, DeliveryJob, DeliveryStatus } from '../store.ts';

export function deliveryJobFromRow(row: Selectable<DeliveryJobTable>): DeliveryJob {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    kind: row.kind as DeliveryJob['kind'],
    alertId: row.alert_id,
    subscriptionId: row.subscription_id,
    channel: row.channel as Channel,
    endpointId: row.endpoint_id,
    status: row.status as DeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: toIso(row.next_attempt_at),
    leaseUntil: toIsoOrNull(row.lease_until),
    lastError: row.last_error,
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}
