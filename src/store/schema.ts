import type { ColumnType, Generated } from 'kysely';

/**
 * The tables as Kysely sees them, for both dialects. Column conventions (see migrations/):
 * - times are epoch milliseconds: `bigint` in PostgreSQL (parsed to number by the pool),
 *   `integer` in SQLite;
 * - JSON is `jsonb` in PostgreSQL and `text` in SQLite; both read back as text (the pool does
 *   not parse jsonb) and are written as JSON text, so one codec serves both;
 * - flags are `boolean` in PostgreSQL and `integer` 0/1 in SQLite: written as 0/1 (PostgreSQL
 *   accepts '0'/'1' for boolean), read back as boolean or number.
 */
type Json = string;
type Flag = ColumnType<boolean | number, number, number>;
type Millis = number;

export type AlertLogCounterTable = { id: number; value: number; purged_through: number };

export type AlertTable = {
  id: string;
  tenant_id: string;
  position: number;
  rule_id: string;
  rule_name: string;
  severity: string;
  severity_rank: number;
  tags: Json;
  group_label: string | null;
  event_ids: Json;
  event_time: Millis;
  event: Json;
  matches: Json;
  suppressed: Flag;
  status: string;
  received_at: Millis;
  acked_by: string | null;
  acked_at: Millis | null;
};

export type DedupLedgerTable = {
  tenant_id: string;
  rule_id: string;
  event_id: string;
  event_time: Millis;
  recorded_at: Millis;
};

export type GroupStateTable = {
  tenant_id: string;
  rule_id: string;
  group_key: string;
  state: Json;
  updated_at: Millis;
};

/** `group_key` is the alert's group, '' for none (a real group value is never empty). */
export type AckStateTable = {
  tenant_id: string;
  rule_id: string;
  group_key: string;
  alert_id: string;
  acked_by: string;
  acked_at: Millis;
  last_alert_at: Millis;
};

export type RuleTable = {
  tenant_id: string;
  id: string;
  document: Json;
  enabled: Flag;
  created_at: Millis;
  updated_at: Millis;
};

export type SilenceTable = {
  id: string;
  tenant_id: string;
  matchers: Json;
  starts_at: Millis;
  ends_at: Millis;
  created_by: string;
  comment: string | null;
  created_at: Millis;
};

export type SubscriberTable = {
  id: string;
  tenant_id: string;
  name: string;
  email: string | null;
  time_zone: string;
  created_at: Millis;
  updated_at: Millis;
};

export type WebhookEndpointTable = {
  id: string;
  tenant_id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Millis | null;
  format: string;
  disabled: Flag;
  disabled_reason: string | null;
  disabled_at: Millis | null;
  failing_since: Millis | null;
  created_at: Millis;
  updated_at: Millis;
};

export type SubscriptionTable = {
  id: string;
  tenant_id: string;
  subscriber_id: string;
  rule_ids: Json | null;
  tags: Json | null;
  min_severity: string;
  channel: string;
  endpoint_id: string | null;
  mode: string;
  daily_hour: number | null;
  unsubscribed: Flag;
  created_at: Millis;
  updated_at: Millis;
};

export type DeliveryJobTable = {
  id: string;
  tenant_id: string;
  kind: string;
  alert_id: string | null;
  subscription_id: string;
  channel: string;
  endpoint_id: string | null;
  status: string;
  attempts: number;
  next_attempt_at: Millis;
  lease_until: Millis | null;
  lease_token: string | null;
  last_error: string | null;
  created_at: Millis;
  updated_at: Millis;
};

export type DeliveryAttemptTable = {
  id: string;
  tenant_id: string;
  job_id: string;
  endpoint_id: string | null;
  at: Millis;
  status_code: number | null;
  duration_ms: number;
  response_snippet: string | null;
  error: string | null;
};

export type DigestEntryTable = {
  tenant_id: string;
  subscription_id: string;
  alert_id: string;
  received_at: Millis;
  digest_job_id: string | null;
};

export type ApiKeyTable = {
  id: string;
  tenant_id: string;
  prefix: string;
  hash: string;
  name: string;
  /** admin, editor, ingest or reader (http/roles.ts); `admin` for keys from before roles. */
  role: ColumnType<string, string | undefined, string>;
  created_at: Millis;
  revoked_at: Millis | null;
};

export type AuditLogTable = {
  id: string;
  tenant_id: string;
  at: Millis;
  /** null for the static key (TOCSIN_API_KEY). */
  actor_key_id: string | null;
  actor_name: string;
  actor_role: string;
  action: string;
  resource_type: string;
  resource_id: string;
  before: Json | null;
  after: Json | null;
};

export type ChangeVersionTable = { channel: string; version: number };

export type OwnerPartitionTable = {
  topic: string;
  partition: number;
  epoch: number;
  next_offset: number;
  owner: string;
  updated_at: Millis;
  /** JSON: source partition → [offset, index] of the last match applied (migration 006). */
  source_marks: Generated<Json>;
};

export type OwnerGroupTable = {
  topic: string;
  partition: number;
  tenant_id: string;
  rule_id: string;
  group_key: string;
  state: Json;
  updated_at: Millis;
};

/** One row per tenant: the next `seq` of its preview ring. */
export type PreviewEventCounterTable = { tenant_id: string; next_seq: number };

/** A recently ingested event kept for rule previews; `body` is the event's JSON, deflated. */
export type PreviewEventTable = {
  tenant_id: string;
  seq: number;
  event_id: string;
  published_at: Millis;
  received_at: Millis;
  body: Uint8Array;
  /** The event's distinct tokens, `" a b … "` (rules/event-terms.ts); null: not known (older rows, huge events). */
  terms: string | null;
};

export type Database = {
  change_versions: ChangeVersionTable;
  owner_partitions: OwnerPartitionTable;
  owner_groups: OwnerGroupTable;
  alert_log_counter: AlertLogCounterTable;
  alerts: AlertTable;
  dedup_ledger: DedupLedgerTable;
  group_states: GroupStateTable;
  ack_states: AckStateTable;
  rules: RuleTable;
  silences: SilenceTable;
  subscribers: SubscriberTable;
  webhook_endpoints: WebhookEndpointTable;
  subscriptions: SubscriptionTable;
  delivery_jobs: DeliveryJobTable;
  delivery_attempts: DeliveryAttemptTable;
  digest_entries: DigestEntryTable;
  api_keys: ApiKeyTable;
  audit_log: AuditLogTable;
  preview_event_counter: PreviewEventCounterTable;
  preview_events: PreviewEventTable;
};
