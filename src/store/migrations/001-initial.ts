import type { Kysely, Migration } from 'kysely';
import type { StoreDialect } from '../context.ts';

/**
 * The first schema. Column types differ by dialect only where they must (schema.ts): times
 * are epoch ms, JSON is jsonb or text, flags boolean or integer.
 */
export function initialMigration(dialect: StoreDialect): Migration {
  const isPg = dialect === 'postgres';
  const millis = isPg ? 'bigint' : 'integer';
  const json = isPg ? 'jsonb' : 'text';
  const flag = isPg ? 'boolean' : 'integer';

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      const { schema } = db;

      // One row. Its row lock orders alert-inserting commits (alert-log.ts); `purged_through`
      // is the highest log position retention has deleted.
      await schema
        .createTable('alert_log_counter')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('value', millis, (c) => c.notNull())
        .addColumn('purged_through', millis, (c) => c.notNull())
        .execute();
      await db
        .insertInto('alert_log_counter' as never)
        .values({ id: 1, value: 0, purged_through: 0 } as never)
        .execute();

      await schema
        .createTable('alerts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('position', millis, (c) => c.notNull().unique())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('rule_name', 'text', (c) => c.notNull())
        .addColumn('severity', 'text', (c) => c.notNull())
        .addColumn('severity_rank', 'integer', (c) => c.notNull())
        .addColumn('tags', json, (c) => c.notNull())
        .addColumn('group_label', 'text')
        .addColumn('event_ids', json, (c) => c.notNull())
        .addColumn('event_time', millis, (c) => c.notNull())
        .addColumn('event', json, (c) => c.notNull())
        .addColumn('matches', json, (c) => c.notNull())
        .addColumn('suppressed', flag, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('received_at', millis, (c) => c.notNull())
        .addColumn('acked_by', 'text')
        .addColumn('acked_at', millis)
        .execute();
      await schema
        .createIndex('alerts_tenant_position')
        .on('alerts')
        .columns(['tenant_id', 'position'])
        .execute();
      await schema
        .createIndex('alerts_tenant_rule_position')
        .on('alerts')
        .columns(['tenant_id', 'rule_id', 'position'])
        .execute();
      await schema.createIndex('alerts_received_at').on('alerts').column('received_at').execute();

      await schema
        .createTable('dedup_ledger')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_time', millis, (c) => c.notNull())
        .addColumn('recorded_at', millis, (c) => c.notNull())
        .addPrimaryKeyConstraint('dedup_ledger_pk', ['tenant_id', 'rule_id', 'event_id'])
        .execute();
      await schema.createIndex('dedup_ledger_recorded_at').on('dedup_ledger').column('recorded_at').execute();

      await schema
        .createTable('group_states')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('group_key', 'text', (c) => c.notNull())
        .addColumn('state', json, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .addPrimaryKeyConstraint('group_states_pk', ['tenant_id', 'rule_id', 'group_key'])
        .execute();

      await schema
        .createTable('ack_states')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('group_key', 'text', (c) => c.notNull())
        .addColumn('alert_id', 'text', (c) => c.notNull())
        .addColumn('acked_by', 'text', (c) => c.notNull())
        .addColumn('acked_at', millis, (c) => c.notNull())
        .addColumn('last_alert_at', millis, (c) => c.notNull())
        .addPrimaryKeyConstraint('ack_states_pk', ['tenant_id', 'rule_id', 'group_key'])
        .execute();

      await schema
        .createTable('rules')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('document', json, (c) => c.notNull())
        .addColumn('enabled', flag, (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .addPrimaryKeyConstraint('rules_pk', ['tenant_id', 'id'])
        .execute();

      await schema
        .createTable('silences')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('matchers', json, (c) => c.notNull())
        .addColumn('starts_at', millis, (c) => c.notNull())
        .addColumn('ends_at', millis, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('created_at', millis, (c) => c.notNull())
        .execute();
      await schema
        .createIndex('silences_tenant_ends_at')
        .on('silences')
        .columns(['tenant_id', 'ends_at'])
        .execute();

      await schema
        .createTable('subscribers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('time_zone', 'text', (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .execute();

      await schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('previous_secret', 'text')
        .addColumn('previous_secret_expires_at', millis)
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('disabled', flag, (c) => c.notNull())
        .addColumn('disabled_reason', 'text')
        .addColumn('disabled_at', millis)
        .addColumn('failing_since', millis)
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .execute();

      await schema
        .createTable('subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('subscriber_id', 'text', (c) =>
          c.notNull().references('subscribers.id').onDelete('cascade'),
        )
        .addColumn('rule_ids', json)
        .addColumn('tags', json)
        .addColumn('min_severity', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('endpoint_id', 'text', (c) => c.references('webhook_endpoints.id').onDelete('cascade'))
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('daily_hour', 'integer')
        .addColumn('unsubscribed', flag, (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .execute();
      await schema
        .createIndex('subscriptions_subscriber')
        .on('subscriptions')
        .column('subscriber_id')
        .execute();
      await schema.createIndex('subscriptions_endpoint').on('subscriptions').column('endpoint_id').execute();

      // The outbox. Jobs outlive their subscription (no foreign key), not their alert.
      await schema
        .createTable('delivery_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('alert_id', 'text', (c) => c.references('alerts.id').onDelete('cascade'))
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('endpoint_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', millis, (c) => c.notNull())
        .addColumn('lease_until', millis)
        .addColumn('lease_token', 'text')
        .addColumn('last_error', 'text')
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('updated_at', millis, (c) => c.notNull())
        .execute();
      await schema
        .createIndex('delivery_jobs_due')
        .on('delivery_jobs')
        .columns(['status', 'next_attempt_at'])
        .execute();
      await schema.createIndex('delivery_jobs_alert').on('delivery_jobs').column('alert_id').execute();
      await schema
        .createIndex('delivery_jobs_endpoint')
        .on('delivery_jobs')
        .columns(['endpoint_id', 'created_at'])
        .execute();

      await schema
        .createTable('delivery_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull().references('delivery_jobs.id').onDelete('cascade'))
        .addColumn('endpoint_id', 'text')
        .addColumn('at', millis, (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('response_snippet', 'text')
        .addColumn('error', 'text')
        .execute();
      await schema
        .createIndex('delivery_attempts_job')
        .on('delivery_attempts')
        .columns(['job_id', 'at'])
        .execute();
      await schema
        .createIndex('delivery_attempts_endpoint')
        .on('delivery_attempts')
        .columns(['endpoint_id', 'at'])
        .execute();
      await schema.createIndex('delivery_attempts_at').on('delivery_attempts').column('at').execute();

      await schema
        .createTable('digest_entries')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id').onDelete('cascade'))
        .addColumn('received_at', millis, (c) => c.notNull())
        .addColumn('digest_job_id', 'text')
        .addPrimaryKeyConstraint('digest_entries_pk', ['subscription_id', 'alert_id'])
        .execute();
      await schema
        .createIndex('digest_entries_job')
        .on('digest_entries')
        .columns(['digest_job_id', 'subscription_id'])
        .execute();
      await schema.createIndex('digest_entries_alert').on('digest_entries').column('alert_id').execute();

      await schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', millis, (c) => c.notNull())
        .addColumn('revoked_at', millis)
        .execute();
    },
  };
}
